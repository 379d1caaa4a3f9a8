"""Hub downloads against the local HF-compatible server, with its faults."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.core.cancel import CancelToken
from app.core.errors import (
    Cancelled,
    ChecksumMismatch,
    InsufficientDiskSpace,
    InvalidModelFile,
    ModelNotFound,
)
from app.core.hub.client import GatedRepo, HubClient, OfflineMode, quantization_from_name
from app.core.hub.download import DownloadBusy, Downloader, DownloadProgress, hub_folder
from app.core.models import store as store_module
from app.core.models.store import ModelStore
from app.core.settings import Settings
from tests.hub_server import FakeHub
from tests.model_files import tiny_model

ROOT = Path(__file__).resolve().parents[3]
REPO = "driftless-test/Tiny-GGUF"
FILE = "tiny.Q8_0.gguf"
MIB = 1024 * 1024


@pytest.fixture
def model_bytes(tmp_path: Path) -> bytes:
    return tiny_model(tmp_path / "src" / FILE, pad_bytes=3 * MIB).read_bytes()


@pytest.fixture
def hub(hub_server: FakeHub, model_bytes: bytes) -> FakeHub:
    hub_server.add_repo(REPO, downloads=10, likes=2, tags=["gguf"], license="apache-2.0")
    hub_server.commit(REPO, {FILE: model_bytes, "README.md": b"# tiny\n"})
    return hub_server


def make_downloader(store: ModelStore, hub: FakeHub, **changes: object) -> Downloader:
    settings = Settings(hub_endpoint=hub.url, stall_timeout=1.0, download_retries=3)
    settings = settings.with_changes(**changes) if changes else settings
    return Downloader(store, settings, backoff_base=0.01)


def file_gets(hub: FakeHub) -> list[str | None]:
    """The Range header of each GET of file bytes (None for a GET from the start)."""
    return [
        r.range
        for r in hub.requests
        if r.method == "GET"
        and ("/resolve/" in r.path or r.role == "cdn")
        and r.status in (200, 206)
    ]


def test_pull_resolves_then_pins_the_commit(
    store: ModelStore, hub: FakeHub, model_bytes: bytes
) -> None:
    seen: list[DownloadProgress] = []
    model = make_downloader(store, hub).pull(REPO, FILE, on_progress=seen.append)
    head = hub.head(REPO)
    assert (model.source, model.repo, model.commit, model.revision) == ("hub", REPO, head, "main")
    assert model.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert model.license == "apache-2.0"
    assert model.path == hub_folder(store, REPO, head) / FILE
    assert model.path.read_bytes() == model_bytes
    resolves = [r.path for r in hub.requests if "/resolve/" in r.path]
    assert resolves and all(f"/resolve/{head}/" in p for p in resolves), (
        "bytes come from the commit"
    )
    assert seen[-1].done == seen[-1].total == len(model_bytes)
    assert not list(model.path.parent.glob("*.incomplete*"))


def test_pulling_an_installed_version_downloads_nothing(store: ModelStore, hub: FakeHub) -> None:
    downloader = make_downloader(store, hub)
    first = downloader.pull(REPO, FILE)
    hub.clear_requests()
    assert downloader.pull(REPO, FILE) == first
    assert file_gets(hub) == []


def test_dropped_connection_resumes_with_range(
    store: ModelStore, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.faults.drop_after(MIB + 12345, times=2)
    model = make_downloader(store, hub).pull(REPO, FILE)
    assert model.sha256 == hashlib.sha256(model_bytes).hexdigest()
    ranges = file_gets(hub)
    assert ranges[0] is None and any(r and r.startswith("bytes=") for r in ranges[1:]), ranges


def test_corrupted_bytes_are_refused_and_nothing_registered(
    store: ModelStore, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.faults.corrupt(FILE)
    with pytest.raises(ChecksumMismatch) as caught:
        make_downloader(store, hub).pull(REPO, FILE)
    assert caught.value.expected == hashlib.sha256(model_bytes).hexdigest()
    assert caught.value.actual and caught.value.actual != caught.value.expected
    assert caught.value.expected in str(caught.value) and caught.value.actual in str(caught.value)
    assert store.list_models() == []
    assert not [p for p in store.paths.models_dir.rglob("*") if p.is_file()]


def test_stall_is_caught_by_the_watchdog_and_retried(
    store: ModelStore, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.faults.stall(10, after_bytes=MIB)
    statuses: list[str] = []
    started = time.monotonic()
    model = make_downloader(store, hub, stall_timeout=0.5).pull(
        REPO, FILE, on_status=statuses.append
    )
    assert time.monotonic() - started < 8, "the watchdog, not the stall, ended the wait"
    assert model.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert any("Retrying" in s for s in statuses)


def test_server_error_before_success_is_retried(store: ModelStore, hub: FakeHub) -> None:
    hub.faults.status(503, path_contains="/resolve/", method="GET", times=2)
    assert make_downloader(store, hub).pull(REPO, FILE).repo == REPO


def test_persistent_server_errors_give_up_with_a_resumable_partial(
    store: ModelStore, hub: FakeHub
) -> None:
    hub.faults.status(503, path_contains="/resolve/", method="GET", times=None)
    downloader = make_downloader(store, hub, download_retries=2)
    with pytest.raises(Exception, match="kept failing"):
        downloader.pull(REPO, FILE)
    assert store.list_models() == []
    hub.faults.clear()
    assert downloader.pull(REPO, FILE).repo == REPO


def test_missing_repo_revision_and_file(store: ModelStore, hub: FakeHub) -> None:
    downloader = make_downloader(store, hub)
    with pytest.raises(ModelNotFound, match="not found"):
        downloader.pull("nobody/nothing-GGUF", FILE)
    with pytest.raises(ModelNotFound, match="revision"):
        downloader.pull(REPO, FILE, "no-such-branch")
    with pytest.raises(ModelNotFound, match="no file"):
        downloader.pull(REPO, "other.gguf")


def test_gated_repo_needs_a_token(store: ModelStore, hub: FakeHub, model_bytes: bytes) -> None:
    hub.add_repo("corp/gated-GGUF", gated="manual")
    hub.commit("corp/gated-GGUF", {FILE: model_bytes})
    hub.add_token("hf_secret_token", repos=["corp/gated-GGUF"])
    with pytest.raises(GatedRepo, match="access token"):
        make_downloader(store, hub).pull("corp/gated-GGUF", FILE)
    assert store.list_models() == []
    model = make_downloader(store, hub, hub_token="hf_secret_token").pull("corp/gated-GGUF", FILE)
    assert model.repo == "corp/gated-GGUF"
    assert any(r.authorization == "Bearer hf_secret_token" for r in hub.requests)


def test_cancel_leaves_a_partial_that_resumes(store: ModelStore, hub: FakeHub) -> None:
    hub.faults.stall(2, after_bytes=MIB)
    downloader = make_downloader(store, hub, stall_timeout=5.0)
    token = CancelToken()

    def cancel_when_started(progress: DownloadProgress) -> None:
        if progress.done >= MIB:
            token.cancel()

    with pytest.raises(Cancelled):
        downloader.pull(REPO, FILE, on_progress=cancel_when_started, cancel=token)
    (partial,) = downloader.partials()
    assert partial.repo == REPO and partial.commit == hub.head(REPO)
    assert 0 < partial.done < partial.size
    assert store.list_models() == []
    hub.clear_requests()
    model = downloader.resume(partial)
    assert model.repo == REPO
    assert file_gets(hub)[0] == f"bytes={partial.done}-"
    assert downloader.partials() == []


def test_discarding_a_partial_deletes_it(store: ModelStore, hub: FakeHub) -> None:
    downloader = make_downloader(store, hub)
    token = CancelToken()
    with pytest.raises(Cancelled):
        downloader.pull(REPO, FILE, on_progress=lambda p: token.cancel(), cancel=token)
    (partial,) = downloader.partials()
    downloader.discard(partial)
    assert downloader.partials() == []
    assert not partial.path.exists()


def test_sigkill_mid_download_resumes_on_next_pull(
    store: ModelStore, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.faults.stall(60, after_bytes=2 * MIB)
    env = {
        **os.environ,
        "DRIFTLESS_HOME": str(store.paths.home),
        "HF_ENDPOINT": hub.url,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "models", "pull", REPO, FILE],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial = hub_folder(store, REPO, hub.head(REPO)) / (FILE + ".incomplete")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size >= 2 * MIB:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the download never reached the stall point")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    hub.faults.clear()
    hub.clear_requests()
    model = make_downloader(store, hub).pull(REPO, FILE)
    assert model.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert file_gets(hub)[0] == f"bytes={2 * MIB}-"


@pytest.mark.parametrize(
    ("repo", "filename", "message"),
    [
        (REPO, "../../escape.gguf", "leave the model store"),
        (REPO, "/etc/passwd.gguf", "leave the model store"),
        (REPO, "weights.safetensors", "not a GGUF file"),
        ("no-slash", FILE, "owner/name"),
    ],
)
def test_preflight_refuses_before_any_request(
    store: ModelStore, hub: FakeHub, repo: str, filename: str, message: str
) -> None:
    hub.clear_requests()
    with pytest.raises(InvalidModelFile, match=message):
        make_downloader(store, hub).pull(repo, filename)
    assert hub.requests == []


def test_full_disk_is_refused_before_downloading(
    store: ModelStore, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage_type = type(store_module.shutil.disk_usage(store.paths.home))
    monkeypatch.setattr(store_module.shutil, "disk_usage", lambda _p: usage_type(10, 9, 1))
    with pytest.raises(InsufficientDiskSpace):
        make_downloader(store, hub).pull(REPO, FILE)
    assert file_gets(hub) == []


def test_a_verified_file_that_is_not_gguf_is_not_installed(store: ModelStore, hub: FakeHub) -> None:
    hub.commit(REPO, {"fake.gguf": b"PK\x03\x04 definitely a zip" * 1000})
    with pytest.raises(InvalidModelFile):
        make_downloader(store, hub).pull(REPO, "fake.gguf")
    assert store.list_models() == []
    assert not [p for p in store.paths.models_dir.rglob("*.gguf")]


def test_lock_sha_that_differs_from_the_hub_is_refused_without_download(
    store: ModelStore, hub: FakeHub
) -> None:
    with pytest.raises(ChecksumMismatch, match="Nothing was downloaded"):
        make_downloader(store, hub).pull(REPO, FILE, expected_sha256="0" * 64)
    assert file_gets(hub) == []


def test_second_downloader_of_the_same_file_is_told_it_is_busy(
    store: ModelStore, hub: FakeHub
) -> None:
    hub.faults.stall(3, after_bytes=MIB)
    first = make_downloader(store, hub, stall_timeout=10.0)
    token = CancelToken()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            first.pull(REPO, FILE, cancel=token)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    partial = hub_folder(store, REPO, hub.head(REPO)) / (FILE + ".incomplete")
    deadline = time.monotonic() + 10
    while not (partial.exists() and partial.stat().st_size >= MIB) and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(DownloadBusy, match="already being downloaded"):
        make_downloader(store, hub).pull(REPO, FILE)
    token.cancel()
    thread.join(15)
    assert not thread.is_alive()


def test_offline_mode_makes_no_request(store: ModelStore, hub: FakeHub) -> None:
    hub.clear_requests()
    with pytest.raises(OfflineMode, match="offline"):
        make_downloader(store, hub, offline=True).pull(REPO, FILE)
    with pytest.raises(OfflineMode):
        HubClient(Settings(hub_endpoint=hub.url, offline=True)).search("tiny")
    assert hub.requests == []


def test_search_and_files(hub: FakeHub, model_bytes: bytes) -> None:
    hub.add_repo("other/Popular-GGUF", downloads=1000, likes=50, tags=["gguf"])
    hub.commit("other/Popular-GGUF", {"p.Q4_K_M.gguf": model_bytes, "p.F16.gguf": model_bytes})
    client = HubClient(Settings(hub_endpoint=hub.url))
    found = client.search("GGUF")
    assert [r.repo for r in found] == ["other/Popular-GGUF", REPO]
    assert found[0].downloads == 1000 and found[0].likes == 50
    commit, files = client.gguf_files("other/Popular-GGUF")
    assert commit == hub.head("other/Popular-GGUF")
    assert {f.filename: f.quantization for f in files} == {
        "p.Q4_K_M.gguf": "Q4_K_M",
        "p.F16.gguf": "F16",
    }
    assert all(f.sha256 == hashlib.sha256(model_bytes).hexdigest() for f in files)


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
        ("Llama-3.2-1B-Instruct-IQ2_XXS.gguf", "IQ2_XXS"),
        ("gemma-3-270m-it-BF16.gguf", "BF16"),
        ("model.gguf", None),
    ],
)
def test_quantization_from_name(name: str, quant: str | None) -> None:
    assert quantization_from_name(name) == quant
