"""``driftless models ...`` as a script would use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from app.cli import main
from app.core.models.starter import STARTER
from tests.model_files import tiny_model

ROOT = Path(__file__).resolve().parents[3]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "list", "--json")
    assert code == 0
    models = json.loads(out)
    (starter,) = models
    for key in ("id", "source", "repo", "commit", "filename", "sha256", "size", "pinned", "active"):
        assert key in starter
    assert starter["id"] == "smollm2-135m-instruct-q4_1"
    assert starter["pinned"] is True and starter["active"] is True
    assert starter["commit"] == STARTER.commit
    assert err == "", "JSON output keeps stderr quiet"


def test_human_list_marks_active_and_pinned(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "list")
    assert code == 0
    line = next(ln for ln in out.splitlines() if "smollm2" in ln)
    assert line.startswith("*P")
    assert "98 MB" in line and "Q4_1" in line
    assert "pinned" in err


def test_import_use_pin_remove_cycle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "Mine.gguf")
    code, out, _ = run(capsys, "models", "import", str(path))
    assert code == 0 and out.strip() == "mine"
    assert run(capsys, "models", "use", "mine")[0] == 0
    active = [m for m in json.loads(run(capsys, "models", "list", "--json")[1]) if m["active"]]
    assert [m["id"] for m in active] == ["mine"]
    assert run(capsys, "models", "pin", "mine")[0] == 0
    code, _, err = run(capsys, "models", "remove", "mine")
    assert code == 1
    assert err.startswith("driftless: ") and "unpin mine" in err and "Traceback" not in err
    assert run(capsys, "models", "unpin", "mine")[0] == 0
    assert run(capsys, "models", "remove", "mine")[0] == 0
    ids = [m["id"] for m in json.loads(run(capsys, "models", "list", "--json")[1])]
    assert ids == ["smollm2-135m-instruct-q4_1"]


def test_import_link_mode(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "linked.gguf")
    assert run(capsys, "models", "import", "--link", str(path))[0] == 0
    (linked,) = [
        m for m in json.loads(run(capsys, "models", "list", "--json")[1]) if m["id"] == "linked"
    ]
    assert linked["path"] == str(path.resolve())


def test_bad_inputs_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"\x00" * 64)
    for argv in (
        ("models", "import", str(garbage)),
        ("models", "import", str(tmp_path / "absent.gguf")),
        ("models", "import", str(tmp_path)),
        ("models", "use", "no-such-model"),
        ("models", "lock", "import", str(tmp_path / "absent.lock")),
    ):
        code, out, err = run(capsys, *argv)
        assert code == 1, argv
        assert out == ""
        assert err.startswith("driftless: ") and err.count("\n") == 1, err


def test_verify_all_and_one_with_failure_exit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "models", "import", str(tiny_model(tmp_path / "v.gguf", pad_bytes=1024)))
    assert run(capsys, "models", "verify")[0] == 0
    model = next(
        m for m in json.loads(run(capsys, "models", "list", "--json")[1]) if m["id"] == "v"
    )
    data = bytearray(Path(model["path"]).read_bytes())
    data[-3] ^= 0x55
    Path(model["path"]).write_bytes(bytes(data))
    code, _, err = run(capsys, "models", "verify", "v")
    assert code == 1
    assert model["path"] in err and "sha256" in err


def test_lock_export_then_import_into_fresh_home(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lock = tmp_path / "driftless.lock"
    assert run(capsys, "models", "lock", "export", str(lock))[0] == 0
    assert STARTER.sha256 in lock.read_text()
    fresh = tmp_path / "fresh-home"
    code, _, err = run(capsys, "--home", str(fresh), "models", "lock", "import", str(lock))
    assert code == 0, err
    assert "Verified and pinned smollm2-135m-instruct-q4_1" in err


def test_version_and_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    env = {"DRIFTLESS_HOME": str(tmp_path / "h"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"driftless {__version__}"
    # then what llama.cpp runs on: the venv's build has its CPU kernels built in, no GPU
    assert lines[1] == "llama.cpp CPU kernels: built in"
    assert lines[2].startswith("GPU: none (this build of llama.cpp has no GPU backend")
    done = subprocess.run(
        [sys.executable, "-m", "app", "models", "remove", "smollm2-135m-instruct-q4_1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert "pinned" in done.stderr and "Traceback" not in done.stderr


def test_core_never_imports_qt() -> None:
    code = (
        "import sys, app.core.models.store, app.core.models.lockfile, app.core.models.starter;"
        "import app.core.models.gguf, app.cli;"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'app.ui', 'llama_cpp'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hostile_lockfiles_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sha = "a" * 64
    nested = tmp_path / "nested.lock"
    nested.write_text("schema = 1\nx = " + "[" * 200_000)
    empty = tmp_path / "empty.lock"
    empty.write_text("schema = 1\n")
    hostile = tmp_path / "hostile.lock"
    hostile.write_text(
        'schema = 1\n[[model]]\nid = "x\\u001b[2J\\nVerified and pinned all"\n'
        f'filename = "m.gguf"\nsha256 = "{sha}"\nsize = 5\n'
    )
    huge = tmp_path / "huge.lock"
    huge.write_bytes(b"#" * (2 * 1024 * 1024))
    for lock in (nested, empty, hostile, huge):
        code, out, err = run(capsys, "models", "lock", "import", str(lock))
        assert code == 1 and out == "", lock
        assert err.startswith("driftless: ") and err.count("\n") == 1, err[:300]
        assert "\x1b" not in err and "Traceback" not in err


def test_lock_import_reports_missing_models_without_downloading(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    hub_server: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.hub_server import FakeHub

    assert isinstance(hub_server, FakeHub)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    lock = tmp_path / "team.lock"
    lock.write_text(
        'schema = 1\n[[model]]\nid = "absent"\nsource = "hub"\nrepo = "org/absent-GGUF"\n'
        f'commit = "{"c" * 40}"\nfilename = "absent.Q4_0.gguf"\nsha256 = "{"d" * 64}"\n'
        "size = 100\n"
    )
    code, out, err = run(capsys, "models", "lock", "import", str(lock))
    assert code == 1 and out == ""
    assert "driftless: missing: absent (org/absent-GGUF@ccccccc, absent.Q4_0.gguf)" in err
    assert f"lock import --download {lock}" in err
    assert hub_server.requests == [], "lock import touches the network only with --download"
    code, out, err = run(capsys, "models", "lock", "import", "--download", str(lock))
    assert code == 1 and "refused: " in err and "not found" in err
    assert hub_server.requests, "--download asks the Hub"


def test_hostile_local_file_names_are_printed_safely(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tiny_model(tmp_path / "evil\x1b]0;pwned\x07\u202e.gguf")
    code, out, err = run(capsys, "models", "import", str(path))
    assert code == 0, err
    code, listing, err2 = run(capsys, "models", "list")
    for text in (out, err, listing, err2):
        assert not any(ch in text for ch in "\x1b\x07\u202e"), repr(text)
