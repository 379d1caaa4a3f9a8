"""`make`'s set-up: the Python check, the stale .venv, and system-deps.sh's promises."""

from __future__ import annotations

import fcntl
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


# --- make rehearse (packaging/rehearse.sh) -----------------------------------------------
# The rehearsal itself takes half an hour as root; its bookkeeping is checked here with
# stand-ins for mmdebstrap, chroot and unshare: what goes into the root, which steps run, in
# which order, with which environment, and what it reports.


def rehearsal(
    tmp_path: Path,
    fail: str = "",
    caches: str = "host",
    targets: str | None = None,
    killed: bool = False,
) -> tuple[Path, Path]:
    """A checkout (one commit, rehearse.sh inside) with ../shared/data beside it, a home with
    caches, and stand-ins on PATH. Returns the checkout and the file the unshare stand-in
    writes each command it was given to (it fails the command named ``fail``)."""
    checkout = tmp_path / "checkout"
    (checkout / "packaging").mkdir(parents=True)
    shutil.copy(PACKAGING / "rehearse.sh", checkout / "packaging")
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
    for step in (["init", "-q"], ["add", "."], ["commit", "-qm", "one"]):
        subprocess.run([*git, *step], check=True, capture_output=True)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "shared" / "data" / "sst2_train.tsv").write_text("sentence\tlabel\n")
    home = tmp_path / "home"
    (home / ".cache" / "pip" / "wheels").mkdir(parents=True)
    (home / ".cache" / "driftless-build" / "llama-cpp-python-0.3").mkdir(parents=True)
    (home / ".cache" / "driftless-build" / "llama-build-x1y2").mkdir(parents=True)
    commands = tmp_path / "commands"
    stand_ins = {
        "id": "echo 0",
        # the root is its one argument that is an absolute path
        "mmdebstrap": 'for a; do case "$a" in /*) mkdir -p "$a/etc" "$a/root";; esac; done',
        "chroot": 'case "$2" in python3) echo "Python 3.11.2";; *) printf "a\\nb\\n";; esac',
        "unshare": (
            'for a; do case "$a" in "make "*) target=$a;; esac; done; '
            f'echo "$target" >> "{commands}"; echo "$*" > "{tmp_path}/unshare-args"; '
            f'[ "$target" != "{fail}" ]' + (" || kill -9 $$" if killed else "")
        ),
    }
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, body in stand_ins.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    env = {
        "PATH": f"{stubs}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "REHEARSE_DIR": str(tmp_path / "dir"),
        "REHEARSE_CACHES": caches,
    }
    if targets is not None:
        env["REHEARSE_TARGETS"] = targets
    done = run(["sh", str(checkout / "packaging" / "rehearse.sh")], env=env)
    (tmp_path / "stderr").write_text(done.stderr + f"\nexit {done.returncode}\n")
    return checkout, commands


def test_rehearse_clones_head_copies_data_and_caches_and_runs_setup_then_test(
    tmp_path: Path,
) -> None:
    checkout, commands = rehearsal(tmp_path)
    said = (tmp_path / "stderr").read_text()
    assert said.endswith("exit 0\n"), said
    head = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    root = tmp_path / "dir" / "root"
    clone = root / "root" / "driftless"
    assert (clone / "packaging" / "rehearse.sh").is_file(), "the committed HEAD, cloned"
    cloned = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    assert cloned.stdout.strip() == head
    assert (root / "root" / "shared" / "data" / "sst2_train.tsv").is_file(), "../shared/data"
    cache = root / "root" / ".cache"
    assert (cache / "pip" / "wheels").is_dir()
    assert (cache / "driftless-build" / "llama-cpp-python-0.3").is_dir()
    assert not (cache / "driftless-build" / "llama-build-x1y2").exists(), "a build under way"
    assert commands.read_text().splitlines() == ["make setup", "make test"]
    assert "Python 3.11.2, 2 packages" in said
    assert "rehearse: passed in " in said and f"({head})" in said
    # Inside: its own root (pivot_root, so user namespaces work), a clean environment.
    inside = (tmp_path / "unshare-args").read_text()
    assert "--mount" in inside and "--pid" in inside and "pivot_root" in inside
    assert "chroot" not in inside
    assert "env -i" in inside and "LANG=C.UTF-8" in inside and "mount -t proc" in inside


def test_rehearse_stops_at_a_failed_setup_and_says_failed(tmp_path: Path) -> None:
    _, commands = rehearsal(tmp_path, fail="make setup")
    said = (tmp_path / "stderr").read_text()
    assert said.endswith("exit 1\n"), said
    assert commands.read_text().splitlines() == ["make setup"], "make test is not run"
    assert "rehearse: make setup FAILED after" in said and "rehearse: failed in " in said


def test_rehearse_says_a_failed_test_run_and_a_cold_start_copies_no_cache(
    tmp_path: Path,
) -> None:
    _, commands = rehearsal(tmp_path, fail="make test", caches="none")
    said = (tmp_path / "stderr").read_text()
    assert said.endswith("exit 1\n"), said
    assert commands.read_text().splitlines() == ["make setup", "make test"]
    assert "rehearse: make setup passed in " in said
    assert "rehearse: make test FAILED after" in said
    assert not (tmp_path / "dir" / "root" / "root" / ".cache").exists()
    assert (tmp_path / "dir" / "root" / "root" / "shared" / "data").is_dir()


def test_rehearse_asks_sudo_when_not_root_and_keeps_its_settings(tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "id").write_text("#!/bin/sh\necho 1000\n")
    (stubs / "sudo").write_text(f'#!/bin/sh\necho "$*" > "{tmp_path}/sudo-args"\n')
    for name in ("id", "sudo"):
        (stubs / name).chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "REHEARSE_CACHES": "none"}
    done = run(["sh", str(PACKAGING / "rehearse.sh")], env=env)
    assert done.returncode == 0, done.stderr
    asked = (tmp_path / "sudo-args").read_text()
    assert "--preserve-env=REHEARSE_DIR,REHEARSE_CACHES" in asked and "rehearse.sh" in asked


def test_rehearse_runs_only_the_targets_it_is_given(tmp_path: Path) -> None:
    _, commands = rehearsal(tmp_path, caches="none", targets="setup")
    said = (tmp_path / "stderr").read_text()
    assert said.endswith("exit 0\n"), said
    assert commands.read_text().splitlines() == ["make setup"]
    assert "rehearse: make setup passed in " in said and "rehearse: passed in " in said


def test_a_second_rehearsal_in_the_same_folder_stops_and_leaves_the_first_alone(
    tmp_path: Path,
) -> None:
    """Two at once in one REHEARSE_DIR: the second removed the root under the first, whose
    set-up then failed (found running two)."""
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "first").write_text("the first rehearsal's root\n")
    with open(tmp_path / "dir.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _, commands = rehearsal(tmp_path)
    said = (tmp_path / "stderr").read_text()
    assert said.endswith("exit 1\n"), said
    assert "another make rehearse is using" in said and f"REHEARSE_DIR={folder}-2" in said
    assert (folder / "first").is_file() and not commands.exists()


def test_a_step_killed_from_outside_is_said_as_such(tmp_path: Path) -> None:
    """Nothing in the log explains a SIGKILL (the OOM killer, or another session's kill):
    the rehearsal says which signal it was (found when one was killed mid-test)."""
    rehearsal(tmp_path, fail="make test", killed=True)
    said = (tmp_path / "stderr").read_text()
    assert said.endswith("exit 1\n"), said
    assert "rehearse: make test FAILED after " in said
    assert "killed by signal 9 from outside it" in said and "rehearse: failed in " in said
