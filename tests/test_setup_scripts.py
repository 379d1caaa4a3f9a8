"""`make`'s set-up: the Python check, the stale .venv, and system-deps.sh's promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"


def fake_python(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "python"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_make_setup_with_another_python_fails_early_and_makes_no_venv(tmp_path: Path) -> None:
    python = fake_python(tmp_path / "bin", "3.12")
    venv = tmp_path / "venv"
    done = run(["make", "-C", str(ROOT), "setup", f"PYTHON={python}", f"VENV={venv}"])
    assert done.returncode != 0
    assert f"needs Python 3.11, and {python} is Python 3.12" in done.stderr
    assert "pyenv install 3.11" in done.stderr
    assert not venv.exists() and not Path(f"{venv}.system-deps-failed").exists()


def test_a_venv_made_by_another_python_is_said_and_removed(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    fake_python(venv / "bin", "3.12")
    done = run(["sh", str(PACKAGING / "venv-check.sh"), "venv", str(venv)])
    assert done.returncode == 0
    assert "was made by Python 3.12, not Python 3.11" in done.stderr
    assert not venv.exists()


def test_a_good_venv_is_kept_and_a_broken_one_removed(tmp_path: Path) -> None:
    good = tmp_path / "good"
    (good / "bin").mkdir(parents=True)
    (good / "bin" / "python").symlink_to(sys.executable)
    assert run(["sh", str(PACKAGING / "venv-check.sh"), "venv", str(good)]).stderr == ""
    assert good.exists()
    broken = tmp_path / "broken"
    (broken / "bin").mkdir(parents=True)
    (broken / "bin" / "python").symlink_to(tmp_path / "gone")
    done = run(["sh", str(PACKAGING / "venv-check.sh"), "venv", str(broken)])
    assert "is broken" in done.stderr and not broken.exists()


def tool_folder(folder: Path, tools: dict[str, str]) -> Path:
    """A PATH of the real sh and grep plus scripted stand-ins: ``name -> script body``."""
    folder.mkdir()
    for name in ("sh", "grep", "cat"):
        real = shutil.which(name)
        assert real is not None
        (folder / name).symlink_to(real)
    for name, body in tools.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def system_deps(path: Path, tmp_path: Path, release: str) -> subprocess.CompletedProcess[str]:
    os_release = tmp_path / "os-release"
    os_release.write_text(release)
    env = {"PATH": str(path), "PYTHON": sys.executable, "OS_RELEASE": str(os_release)}
    return run([str(path / "sh"), str(PACKAGING / "system-deps.sh")], env=env)


def test_without_dpkg_it_says_what_to_install_and_installs_nothing(tmp_path: Path) -> None:
    path = tool_folder(tmp_path / "bin", {"cc": "", "c++": ""})
    done = system_deps(path, tmp_path, "ID=fedora\n")
    assert done.returncode == 0, done.stderr
    assert "not a Debian/Ubuntu system" in done.stderr
    assert "sudo dnf install" in done.stderr and "xcb-util-cursor" in done.stderr
    done = system_deps(path, tmp_path, 'ID=opensuse-tumbleweed\nID_LIKE="opensuse suse"\n')
    assert "sudo zypper install" in done.stderr


def test_without_a_compiler_it_says_so_and_fails(tmp_path: Path) -> None:
    path = tool_folder(tmp_path / "bin", {})
    done = system_deps(path, tmp_path, "ID=arch\n")
    assert done.returncode == 1
    assert "sudo pacman -S" in done.stderr
    assert "no C/C++ compiler" in done.stderr


def test_a_failed_apt_install_is_a_failure(tmp_path: Path) -> None:
    calls = tmp_path / "apt-calls"
    path = tool_folder(
        tmp_path / "bin",
        {
            "dpkg-query": "exit 1",  # nothing installed
            "apt-get": f'echo "$*" >> "{calls}"; case "$*" in *install*) exit 100;; esac',
            "id": "echo 0",
            "cc": "",
            "c++": "",
        },
    )
    done = system_deps(path, tmp_path, "ID=debian\n")
    assert done.returncode == 1
    assert "could not install" in done.stderr and "not marked done" in done.stderr
    assert "install -y" in calls.read_text(), "it did try"


def test_the_venv_module_is_checked_after_system_deps_installs_it(tmp_path: Path) -> None:
    """On a fresh Debian, python3.11-venv comes from system-deps.sh: checking for venv
    before it runs stops the set-up that would have installed it (found by make rehearse)."""
    venv = tmp_path / "venv"
    done = run(["make", "-n", "-C", str(ROOT), "setup", f"VENV={venv}", "PYTHON=python3.11"])
    assert done.returncode == 0, done.stderr
    steps = done.stdout
    assert steps.index("venv-check.sh version") < steps.index("system-deps.sh")
    assert steps.index("system-deps.sh") < steps.index("venv-check.sh python")
    assert steps.index("venv-check.sh python") < steps.index("-m venv")
