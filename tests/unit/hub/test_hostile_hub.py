"""A broken or hostile Hub: bad sizes, hashes, names and redirect loops end in one sentence.

Each case makes the local HF-compatible server lie in one way, then checks that the
client refuses in a sentence, that nothing is registered and that no empty partial
file or note is left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.core.errors import InsufficientDiskSpace
from app.core.hub.client import HubClient, HubError
from app.core.hub.download import Downloader
from app.core.models import store as store_module
from app.core.models.store import ModelStore
from app.core.settings import Settings
from tests.hub_server import FakeHub
from tests.model_files import tiny_model

REPO = "driftless-test/Tiny-GGUF"
FILE = "tiny.Q8_0.gguf"
MIB = 1024 * 1024
ESC = "\x1b]0;pwned\x07\x1b[2J"


@pytest.fixture
def hub(hub_server: FakeHub, tmp_path: Path) -> FakeHub:
    data = tiny_model(tmp_path / "src" / FILE, pad_bytes=3 * MIB).read_bytes()
    hub_server.add_repo(REPO, tags=["gguf"], license="apache-2.0", downloads=3)
    hub_server.commit(REPO, {FILE: data, "README.md": b"# tiny\n"})
    return hub_server


def settings_for(hub: FakeHub) -> Settings:
    return Settings(hub_endpoint=hub.url, stall_timeout=2.0, download_retries=3)


def downloader(store: ModelStore, hub: FakeHub) -> Downloader:
    return Downloader(store, settings_for(hub), backoff_base=0.01)


def leftovers(store: ModelStore) -> list[Path]:
    return [p for p in store.paths.models_dir.rglob("*")] if store.paths.models_dir.exists() else []


def gguf_sibling(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], Any]:
    def rewrite(info: dict[str, Any]) -> dict[str, Any]:
        for sibling in info.get("siblings", []):
            if sibling["rfilename"].endswith(".gguf"):
                change(sibling)
        return info

    return rewrite


def _set_lfs(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda sibling: sibling.get("lfs", {}).__setitem__(key, value)


HOSTILE_FILES = {
    "size abc": _set_lfs("size", "abc"),
    "size negative": _set_lfs("size", -5),
    "size float": _set_lfs("size", 1.5),
    "sha256 short": _set_lfs("sha256", "abc123"),
    "sha256 not hex": _set_lfs("sha256", "z" * 64),
    "sha256 number": _set_lfs("sha256", 12345),
    "filename escapes": lambda s: s.__setitem__("rfilename", "../../outside.gguf"),
    "filename escape codes": lambda s: s.__setitem__("rfilename", f"evil{ESC}.gguf"),
    "filename newline": lambda s: s.__setitem__("rfilename", "a\nInstalled b.gguf"),
    "filename bidi": lambda s: s.__setitem__("rfilename", "model\u202efgg.exe.gguf"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_hostile_file_metadata_is_refused_in_a_sentence(hub: FakeHub, case: str) -> None:
    hub.rewrite_info = gguf_sibling(HOSTILE_FILES[case])
    with pytest.raises(HubError, match="gave an invalid") as caught:
        HubClient(settings_for(hub)).gguf_files(REPO)
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and "\u202e" not in message


@pytest.mark.parametrize("case", ["size abc", "sha256 short", "size negative"])
def test_pull_refuses_hostile_metadata_and_writes_nothing(
    store: ModelStore, hub: FakeHub, case: str
) -> None:
    hub.rewrite_info = gguf_sibling(HOSTILE_FILES[case])
    with pytest.raises(HubError, match="gave an invalid"):
        downloader(store, hub).pull(REPO, FILE)
    assert store.list_models() == []
    assert leftovers(store) == []
    assert not [r for r in hub.requests if "/resolve/" in r.path or r.role == "cdn"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("sha", "main"), ("sha", None), ("sha", "g" * 40)],
)
def test_a_listing_without_a_real_commit_is_refused(
    hub: FakeHub, field: str, value: object
) -> None:
    def rewrite(info: dict[str, Any]) -> dict[str, Any]:
        info[field] = value
        return info

    hub.rewrite_info = rewrite
    with pytest.raises(HubError, match="commit"):
        HubClient(settings_for(hub)).gguf_files(REPO)


@pytest.mark.parametrize("license", [f"mit{ESC}", "<b>apache</b>", "x" * 500])
def test_a_hostile_licence_is_refused(store: ModelStore, hub: FakeHub, license: str) -> None:
    def rewrite(info: dict[str, Any]) -> dict[str, Any]:
        info["cardData"]["license"] = license
        return info

    hub.rewrite_info = rewrite
    with pytest.raises(HubError, match="licence") as caught:
        downloader(store, hub).pull(REPO, FILE)
    assert "\x1b" not in str(caught.value)
    assert store.list_models() == [] and leftovers(store) == []


def test_hostile_search_results_are_refused(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = f"evil/repo{ESC}"
    hub.add_repo("evil/placeholder", tags=["gguf"])
    hub._repos["evil/placeholder"].repo_id = hostile  # as if the server sent it
    with pytest.raises(HubError, match="repository name") as caught:
        HubClient(settings_for(hub)).search("")
    assert "\x1b" not in str(caught.value)


def test_redirect_loop_stops_at_once_without_retries(store: ModelStore, hub: FakeHub) -> None:
    hub.faults.redirect_loop(path_contains="/resolve/")
    started = time.monotonic()
    with pytest.raises(HubError, match="in a loop") as caught:
        downloader(store, hub).pull(REPO, FILE)
    assert time.monotonic() - started < 5
    assert "\n" not in str(caught.value)
    resolves = [r for r in hub.requests if "/resolve/" in r.path]
    assert len(resolves) == 1, "the first redirect back to itself ends it"
    assert store.list_models() == []
    assert leftovers(store) == [], "no empty .incomplete file, note or folder"


def test_redirect_loop_in_an_api_call_is_one_sentence(hub: FakeHub) -> None:
    hub.faults.redirect_loop(path_contains="/api/models/")
    with pytest.raises(HubError, match="in a loop"):
        HubClient(settings_for(hub)).gguf_files(REPO)


def test_refused_download_leaves_no_empty_partial(
    store: ModelStore, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage_type = type(store_module.shutil.disk_usage(store.paths.home))
    monkeypatch.setattr(store_module.shutil, "disk_usage", lambda _p: usage_type(10, 9, 1))
    with pytest.raises(InsufficientDiskSpace):
        downloader(store, hub).pull(REPO, FILE)
    assert leftovers(store) == []


def test_a_refusal_mid_file_keeps_the_bytes_to_resume(store: ModelStore, hub: FakeHub) -> None:
    hub.faults.drop_after(MIB + 12345)
    refused: list[int] = []

    def refuse_the_retry(progress: object) -> None:
        if not refused:  # the connection drops after these bytes; the retry gets a 404
            refused.append(1)
            hub.faults.status(404, path_contains=FILE, method="GET", times=1)

    with pytest.raises(HubError, match="404"):
        downloader(store, hub).pull(REPO, FILE, on_progress=refuse_the_retry)
    kept = [p for p in leftovers(store) if p.name.endswith(".incomplete")]
    assert len(kept) == 1 and 0 < kept[0].stat().st_size <= MIB + 12345
    model = downloader(store, hub).pull(REPO, FILE)
    assert model.path.stat().st_size == model.size


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_shows_hostile_answers_as_one_safe_line(
    hub: FakeHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    hub.rewrite_info = gguf_sibling(HOSTILE_FILES["filename escape codes"])
    code, out, err = run(capsys, "models", "files", REPO)
    assert code == 1 and out == ""
    assert err.startswith("driftless: ") and err.count("\n") == 1
    assert "\x1b" not in err and "\\x1b" in err
    hub.rewrite_info = gguf_sibling(HOSTILE_FILES["size abc"])
    code, out, err = run(capsys, "models", "pull", REPO, FILE)
    assert code == 1 and "'abc'" in err and err.count("\n") == 1 and "Traceback" not in err
