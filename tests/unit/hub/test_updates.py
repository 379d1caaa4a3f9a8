"""Updates without drift, lockfile fetches, and the Hub commands of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.core.errors import ModelPinned
from app.core.hub.client import HubClient
from app.core.hub.download import Downloader
from app.core.hub.updates import UpdateState, check_updates, lock_fetcher, update
from app.core.models import lockfile
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.settings import Settings
from tests.hub_server import FakeHub
from tests.model_files import tiny_model

REPO = "driftless-test/Tiny-GGUF"
FILE = "tiny.Q8_0.gguf"


@pytest.fixture
def versions(tmp_path: Path) -> tuple[bytes, bytes]:
    one = tiny_model(tmp_path / "v1" / FILE, seed=1).read_bytes()
    two = tiny_model(tmp_path / "v2" / FILE, seed=2).read_bytes()
    return one, two


@pytest.fixture
def hub(hub_server: FakeHub, versions: tuple[bytes, bytes]) -> FakeHub:
    hub_server.add_repo(REPO, tags=["gguf"], downloads=5)
    hub_server.commit(REPO, {FILE: versions[0]}, message="v1")
    return hub_server


def downloader_for(store: ModelStore, hub: FakeHub) -> Downloader:
    return Downloader(store, Settings(hub_endpoint=hub.url, stall_timeout=2.0), backoff_base=0.01)


def states(store: ModelStore, hub: FakeHub) -> dict[str, UpdateState]:
    client = HubClient(Settings(hub_endpoint=hub.url))
    return {s.model.id: s.state for s in check_updates(store, client)}


def test_check_updates_tells_what_moved_and_touches_nothing(
    store: ModelStore, hub: FakeHub, versions: tuple[bytes, bytes]
) -> None:
    model = downloader_for(store, hub).pull(REPO, FILE)
    assert states(store, hub) == {model.id: UpdateState.UP_TO_DATE}
    hub.commit(REPO, {"README.md": b"docs"}, message="docs only")
    assert states(store, hub) == {model.id: UpdateState.FILE_UNCHANGED}
    hub.commit(REPO, {FILE: versions[1]}, message="v2")
    before = store.list_models()
    assert states(store, hub) == {model.id: UpdateState.FILE_CHANGED}
    assert store.list_models() == before
    assert model.path.read_bytes() == versions[0]
    hub.commit(REPO, {"other.gguf": versions[1]}, delete=[FILE], message="rename")
    assert states(store, hub) == {model.id: UpdateState.FILE_REMOVED}


def test_update_installs_side_by_side_and_switches(
    store: ModelStore, hub: FakeHub, versions: tuple[bytes, bytes]
) -> None:
    downloader = downloader_for(store, hub)
    old = downloader.pull(REPO, FILE)
    new_commit = hub.commit(REPO, {FILE: versions[1]}, message="v2")
    status, installed = update(store, downloader, old.id)
    assert status.state is UpdateState.FILE_CHANGED
    assert installed is not None
    assert installed.commit == new_commit and installed.revision == "main"
    assert installed.id == f"tiny-q8_0@{new_commit[:7]}"
    assert installed.path.read_bytes() == versions[1]
    assert store.active() == installed
    assert store.get(old.id).path.read_bytes() == versions[0], "the old version stays"
    assert states(store, hub)[installed.id] is UpdateState.UP_TO_DATE


def test_pinned_model_is_never_updated(
    store: ModelStore, hub: FakeHub, versions: tuple[bytes, bytes]
) -> None:
    downloader = downloader_for(store, hub)
    model = downloader.pull(REPO, FILE, pin=True)
    hub.commit(REPO, {FILE: versions[1]}, message="v2")
    (status,) = check_updates(store, HubClient(Settings(hub_endpoint=hub.url)))
    assert status.update_available and "pinned" in status.message
    with pytest.raises(ModelPinned, match=f"driftless models unpin {model.id}"):
        update(store, downloader, model.id)
    assert store.list_models() == [store.get(model.id)]
    assert store.get(model.id).commit == model.commit
    assert model.path.read_bytes() == versions[0]


def test_lock_import_fetches_missing_models_at_the_exact_commit(
    store: ModelStore, hub: FakeHub, versions: tuple[bytes, bytes], tmp_path: Path
) -> None:
    locked = downloader_for(store, hub).pull(REPO, FILE, pin=True)
    lock_path = tmp_path / "driftless.lock"
    lockfile.export(store, lock_path)
    hub.commit(REPO, {FILE: versions[1]}, message="v2 moves main")

    colleague = ModelStore(get_paths(tmp_path / "colleague"))
    fetch = lock_fetcher(downloader_for(colleague, hub))
    report = lockfile.import_lock(colleague, lock_path, fetch=fetch)
    assert report.ok, report
    (model,) = report.pinned
    assert (model.commit, model.sha256) == (locked.commit, locked.sha256)
    assert model.pinned


def test_lock_import_refuses_a_lock_the_hub_contradicts(
    store: ModelStore, hub: FakeHub, tmp_path: Path
) -> None:
    commit = hub.head(REPO)
    lock_path = tmp_path / "driftless.lock"
    lock_path.write_text(
        f'schema = 1\n[[model]]\nid = "tiny"\nsource = "hub"\nrepo = "{REPO}"\n'
        f'commit = "{commit}"\nfilename = "{FILE}"\nsha256 = "{"e" * 64}"\nsize = 100\n'
    )
    hub.clear_requests()
    report = lockfile.import_lock(store, lock_path, fetch=lock_fetcher(downloader_for(store, hub)))
    assert not report.ok
    ((_entry, reason),) = report.refused
    assert "Nothing was downloaded" in reason
    assert store.list_models() == []
    assert not [r for r in hub.requests if r.role == "cdn"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_search_files_pull_check_update(
    hub: FakeHub,
    versions: tuple[bytes, bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    code, out, _ = run(capsys, "models", "search", "tiny", "--json")
    assert code == 0 and [r["repo"] for r in json.loads(out)] == [REPO]
    code, out, _ = run(capsys, "models", "files", REPO, "--json")
    listing = json.loads(out)
    assert listing["commit"] == hub.head(REPO)
    assert listing["files"][0]["filename"] == FILE
    assert listing["files"][0]["quantization"] == "Q8_0"

    code, out, err = run(capsys, "models", "pull", REPO, FILE, "--pin")
    assert code == 0, err
    assert out.strip() == "tiny-q8_0"
    hub.commit(REPO, {FILE: versions[1]}, message="v2")
    code, out, _ = run(capsys, "models", "check-updates", "--json")
    report = {r["id"]: r for r in json.loads(out)}
    assert report["tiny-q8_0"]["update_available"] is True
    assert report["tiny-q8_0"]["pinned"] is True
    code, out, err = run(capsys, "models", "update", "tiny-q8_0")
    assert code == 1 and "pinned" in err and "unpin tiny-q8_0" in err
    assert run(capsys, "models", "unpin", "tiny-q8_0")[0] == 0
    store = ModelStore(get_paths())
    before = store.active()
    code, out, err = run(capsys, "models", "update", "tiny-q8_0")
    assert code == 0, err
    new_id = out.strip()
    assert new_id.startswith("tiny-q8_0@")
    assert "No check set is recorded for tiny-q8_0, so there is nothing to compare" in err
    assert store.active() == before, "the update switches nothing"
    assert "driftless models update tiny-q8_0 --switch" in err
    code, out, err = run(capsys, "models", "update", "tiny-q8_0", "--switch")
    assert code == 0, err
    assert out.strip() == new_id and f"{new_id} is now the active model" in err
    active = store.active()
    assert active is not None and active.id == new_id


def test_cli_reports_an_unreachable_hub_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "models", "search", "anything")
    assert code == 1 and out == ""
    assert err.startswith("driftless: Cannot reach http://127.0.0.1:9")
    assert err.count("\n") == 1
