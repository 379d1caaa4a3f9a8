"""Mirrors that leave LFS data out of model info (olah): the sha256 comes from elsewhere."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli import main
from app.core.hub.client import MODEL_INFO, PATHS_INFO, RESOLVE_HEAD, HubClient, RemoteFile
from app.core.hub.download import Downloader
from app.core.hub.updates import UpdateState, check_model, check_updates
from app.core.models.store import ModelStore
from app.core.settings import Settings
from tests.hub_server import FakeHub
from tests.model_files import tiny_model

REPO = "driftless-test/Tiny-GGUF"
FILE = "tiny.Q8_0.gguf"


@pytest.fixture
def data(tmp_path: Path) -> bytes:
    return tiny_model(tmp_path / "v1" / FILE, seed=1).read_bytes()


@pytest.fixture
def mirror(hub_server: FakeHub, data: bytes) -> FakeHub:
    hub_server.add_repo(REPO, tags=["gguf"], license="apache-2.0")
    hub_server.commit(REPO, {FILE: data, "README.md": b"# Tiny\n"}, message="v1")
    hub_server.model_info_lfs = False
    return hub_server


def client(hub: FakeHub) -> HubClient:
    return HubClient(Settings(hub_endpoint=hub.url))


def test_files_get_size_and_sha256_from_paths_info(mirror: FakeHub, data: bytes) -> None:
    commit, (remote,) = client(mirror).gguf_files(REPO)
    assert commit == mirror.head(REPO)
    assert remote.size == len(data) and remote.sha256 == hashlib.sha256(data).hexdigest()
    assert remote.sha256_source == PATHS_INFO and remote.license == "apache-2.0"
    mirror.model_info_lfs = True
    assert client(mirror).file_at(REPO, FILE, commit).sha256_source == MODEL_INFO


def test_without_paths_info_the_head_at_the_commit_says(mirror: FakeHub, data: bytes) -> None:
    mirror.faults.status(404, path_contains="paths-info", times=None)
    remote = client(mirror).file_at(REPO, FILE, mirror.head(REPO))
    assert remote.size == len(data) and remote.sha256 == hashlib.sha256(data).hexdigest()
    assert remote.sha256_source == RESOLVE_HEAD
    heads = [r for r in mirror.requests if r.method == "HEAD" and "/resolve/" in r.path]
    assert heads and all(f"/resolve/{remote.commit}/" in r.path for r in heads)


def test_pull_from_a_mirror_installs_and_says_where_the_hash_came_from(
    store: ModelStore, mirror: FakeHub, data: bytes
) -> None:
    said: list[str] = []
    downloader = Downloader(store, Settings(hub_endpoint=mirror.url, stall_timeout=2.0))
    model = downloader.pull(REPO, FILE, on_status=said.append)
    assert model.sha256 == hashlib.sha256(data).hexdigest()
    assert any("from the Hub's paths-info" in line for line in said)


def test_check_updates_never_reports_a_change_it_cannot_see(
    store: ModelStore, mirror: FakeHub
) -> None:
    model = Downloader(store, Settings(hub_endpoint=mirror.url)).pull(REPO, FILE)
    mirror.commit(REPO, {"README.md": b"docs"}, message="docs only")
    (status,) = check_updates(store, client(mirror))
    assert status.state is UpdateState.FILE_UNCHANGED, status.message

    mirror.faults.status(500, path_contains="paths-info", times=None)
    mirror.faults.status(500, path_contains="/resolve/", method="HEAD", times=None)
    (status,) = check_updates(store, client(mirror))
    assert status.state is UpdateState.ERROR and not status.update_available
    assert status.model.id == model.id


def test_the_cli_lists_sizes_and_exits_1_when_it_could_not_check(
    mirror: FakeHub,
    data: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", mirror.url)
    assert main(["models", "files", REPO, "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)["files"]
    assert listed["size"] == len(data) and listed["sha256_source"] == PATHS_INFO
    assert main(["models", "pull", REPO, FILE]) == 0
    mirror.commit(REPO, {"README.md": b"docs"}, message="docs only")
    capsys.readouterr()
    # The CLI registered the starter, whose repo this Hub does not hold: one model could
    # not be checked, so the exit status says so even though the other is up to date.
    assert main(["models", "check-updates"]) == 1
    out, err = capsys.readouterr()
    assert "tiny-q8_0: new commit, file unchanged" in out
    assert "smollm2-135m-instruct-q4_1: could not check" in out
    assert "Could not check 1 of 2 model(s)." in err

    mirror.faults.status(500, path_contains="paths-info", times=None)
    mirror.faults.status(500, path_contains="/resolve/", method="HEAD", times=None)
    assert main(["models", "check-updates", "--json"]) == 1
    entries = {e["id"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["tiny-q8_0"]["state"] == "could not check"
    assert not any(e["update_available"] for e in entries.values())


def test_a_file_whose_hash_no_answer_carries_is_not_called_changed(
    store: ModelStore, mirror: FakeHub
) -> None:
    model = Downloader(store, Settings(hub_endpoint=mirror.url)).pull(REPO, FILE)
    mirror.commit(REPO, {"README.md": b"docs"}, message="docs only")

    class Blind(HubClient):
        def file_at(self, repo: str, filename: str, commit: str) -> RemoteFile:
            return replace(super().file_at(repo, filename, commit), sha256=None)

    status = check_model(Blind(Settings(hub_endpoint=mirror.url)), model)
    assert status.state is UpdateState.ERROR and not status.update_available
    assert "whether it changed cannot be told" in status.message
