"""The fake Hub (tests/hub_server.py) against the real huggingface_hub client."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import huggingface_hub
import pytest
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from app.core.models.starter import STARTER
from tests.hub_server import (
    GATED_REPO,
    GATED_TOKEN,
    FakeHub,
    LocalFile,
    add_gated_sample,
    add_starter,
    git_blob_oid,
)

REPO = "org/tiny-GGUF"
GGUF = bytes(range(256)) * 400  # 100 KiB; an LFS file by its name
CHUNK = constants.DOWNLOAD_CHUNK_SIZE  # 10 MiB: the client writes whole chunks only


@pytest.fixture(autouse=True)
def no_agent_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a user-agent fetches {constants.ENDPOINT}/api/agent-harnesses once a process,
    whatever endpoint= says: tests without ``hub_env`` would reach for huggingface.co."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)


@dataclass
class Sample:
    hub: FakeHub
    api: HfApi
    first: str
    second: str


@pytest.fixture
def sample(hub_env: FakeHub) -> Sample:
    hub_env.add_repo(REPO, downloads=42, likes=7, tags=["gguf"], license="apache-2.0")
    files = {"tiny.Q4_0.gguf": GGUF, "README.md": b"one\n", "docs/usage.md": b"Use it.\n"}
    first = hub_env.commit(REPO, files, message="Add the model")
    second = hub_env.commit(REPO, {"README.md": b"two\n"}, message="Update README.md")
    return Sample(hub_env, HfApi(endpoint=hub_env.url), first, second)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_model_info_describes_each_commit(sample: Sample) -> None:
    old = sample.api.model_info(REPO, revision=sample.first, files_metadata=True)
    new = sample.api.model_info(REPO, files_metadata=True)

    assert (old.sha, new.sha) == (sample.first, sample.second)
    files = {s.rfilename: s for s in old.siblings or []}
    assert set(files) == {"tiny.Q4_0.gguf", "README.md", "docs/usage.md"}
    lfs = files["tiny.Q4_0.gguf"].lfs
    assert lfs is not None and (lfs.sha256, lfs.size) == (sha256(GGUF), len(GGUF))
    assert files["README.md"].lfs is None
    assert files["README.md"].blob_id == git_blob_oid(b"one\n")
    readme = next(s for s in new.siblings or [] if s.rfilename == "README.md")
    assert (readme.size, readme.blob_id) == (4, git_blob_oid(b"two\n"))
    assert (new.downloads, new.likes, new.gated, new.private) == (42, 7, False, False)
    assert new.card_data is not None and new.card_data.license == "apache-2.0"
    assert "gguf" in (new.tags or []) and "license:apache-2.0" in (new.tags or [])


def test_download_at_a_commit_then_from_cache_without_a_request(
    sample: Sample, tmp_path: Path
) -> None:
    cached = hf_hub_download(REPO, "tiny.Q4_0.gguf", revision=sample.first)
    local = hf_hub_download(REPO, "README.md", revision=sample.first, local_dir=tmp_path / "d")

    assert Path(cached).read_bytes() == GGUF
    assert f"snapshots/{sample.first}/" in Path(cached).as_posix()
    assert Path(local).read_bytes() == b"one\n"
    log = [(r.role, r.method, r.status) for r in sample.hub.requests]
    assert log == [
        ("hub", "HEAD", 302),
        ("cdn", "GET", 200),
        ("hub", "HEAD", 200),
        ("hub", "GET", 200),
    ]

    sample.hub.clear_requests()
    again = hf_hub_download(REPO, "tiny.Q4_0.gguf", revision=sample.first)
    assert again == cached and sample.hub.requests == []


def test_a_dropped_connection_resumes_from_the_last_whole_chunk(sample: Sample) -> None:
    big = bytes(range(256)) * ((CHUNK + CHUNK // 10) // 256)
    sha = sample.hub.commit(REPO, {"big.gguf": big})
    sample.hub.faults.drop_after(CHUNK + CHUNK // 20)

    path = hf_hub_download(REPO, "big.gguf", revision=sha)

    assert sha256(Path(path).read_bytes()) == sha256(big)
    gets = [r for r in sample.hub.requests if r.role == "cdn"]
    assert [(g.range, g.status) for g in gets] == [(None, 200), (f"bytes={CHUNK}-", 206)]
    assert gets[0].body_bytes == CHUNK + CHUNK // 20
    assert gets[1].body_bytes == len(big) - CHUNK


def test_a_stalled_body_times_out_and_is_fetched_again(
    sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 0.3)
    sample.hub.faults.stall(30, after_bytes=1000, path_contains="tiny.Q4_0.gguf")

    path = hf_hub_download(REPO, "tiny.Q4_0.gguf", revision=sample.second)

    assert Path(path).read_bytes() == GGUF
    gets = [r for r in sample.hub.requests if r.role == "cdn"]
    assert [g.body_bytes for g in gets] == [1000, len(GGUF)]


def test_corrupted_bytes_keep_their_size_and_pass_the_client(sample: Sample) -> None:
    sample.hub.faults.corrupt("tiny.Q4_0.gguf")
    url = hf_hub_url(REPO, "tiny.Q4_0.gguf", revision=sample.first)

    announced = get_hf_file_metadata(url)
    path = hf_hub_download(REPO, "tiny.Q4_0.gguf", revision=sample.first)

    data = Path(path).read_bytes()
    assert announced.etag == sha256(GGUF) and announced.size == len(GGUF)
    assert len(data) == len(GGUF) and data != GGUF  # only a sha256 check catches it


def test_list_models_searches_filters_sorts_and_pages(sample: Sample) -> None:
    sample.hub.add_repo("org/Big-GGUF", downloads=900, tags=["gguf"])
    sample.hub.add_repo("other/tiny-safetensors", downloads=5000, tags=["safetensors"])
    sample.hub.add_repo("other/TINY-gguf-2", downloads=1, tags=["gguf"])
    sample.hub.page_size = 1

    found = sample.api.list_models(search="tiny", filter="gguf", sort="downloads")
    assert [m.id for m in found] == [REPO, "other/TINY-gguf-2"]
    assert [m.id for m in sample.api.list_models(sort="downloads", limit=2)] == [
        "other/tiny-safetensors",
        "org/Big-GGUF",
    ]
    model = next(iter(sample.api.list_models(author="org", search="tiny")))
    assert (model.downloads, model.likes, model.siblings) == (42, 7, None)
    pages = [r for r in sample.hub.requests if r.path == "/api/models"]
    assert len(pages) == 2 + 2 + 1 and "cursor" in pages[1].query


def test_list_repo_tree_lists_folders_recursion_and_pages(sample: Sample) -> None:
    top = list(sample.api.list_repo_tree(REPO, revision=sample.first))
    assert [(type(e), e.path) for e in top] == [
        (RepoFile, "README.md"),
        (RepoFolder, "docs"),
        (RepoFile, "tiny.Q4_0.gguf"),
    ]
    gguf = top[2]
    assert isinstance(gguf, RepoFile) and gguf.lfs is not None
    assert (gguf.size, gguf.lfs.sha256) == (len(GGUF), sha256(GGUF))

    sample.hub.page_size = 2
    everything = list(sample.api.list_repo_tree(REPO, recursive=True, expand=True))
    assert [e.path for e in everything] == ["README.md", "docs", "docs/usage.md", "tiny.Q4_0.gguf"]
    last = {e.path: e.last_commit.oid for e in everything if e.last_commit}
    assert last == {
        "README.md": sample.second,
        "docs": sample.first,
        "docs/usage.md": sample.first,
        "tiny.Q4_0.gguf": sample.first,
    }
    assert len([r for r in sample.hub.requests if "/tree/" in r.path]) == 1 + 2
    assert [e.path for e in sample.api.list_repo_tree(REPO, path_in_repo="docs")] == [
        "docs/usage.md"
    ]
    with pytest.raises(EntryNotFoundError):
        list(sample.api.list_repo_tree(REPO, path_in_repo="nowhere"))
    assert sample.api.list_repo_files(REPO) == ["README.md", "docs/usage.md", "tiny.Q4_0.gguf"]


def test_get_paths_info_answers_for_the_paths_that_exist(sample: Sample) -> None:
    infos = sample.api.get_paths_info(
        REPO, ["tiny.Q4_0.gguf", "docs", "missing.txt"], revision=sample.first
    )

    assert [(type(i), i.path) for i in infos] == [
        (RepoFile, "tiny.Q4_0.gguf"),
        (RepoFolder, "docs"),
    ]
    gguf = infos[0]
    assert isinstance(gguf, RepoFile) and gguf.lfs is not None
    assert gguf.lfs.sha256 == sha256(GGUF)


def test_commits_refs_and_extra_branches(sample: Sample) -> None:
    sample.hub.set_ref(REPO, "dev", sample.first)
    sample.hub.set_ref(REPO, "v1.0", sample.first, tag=True)

    commits = sample.api.list_repo_commits(REPO)
    assert [(c.commit_id, c.title) for c in commits] == [
        (sample.second, "Update README.md"),
        (sample.first, "Add the model"),
    ]
    assert [c.commit_id for c in sample.api.list_repo_commits(REPO, revision="dev")] == [
        sample.first
    ]
    refs = sample.api.list_repo_refs(REPO)
    assert {(b.name, b.target_commit) for b in refs.branches} == {
        ("main", sample.second),
        ("dev", sample.first),
    }
    assert [(t.ref, t.target_commit) for t in refs.tags] == [("refs/tags/v1.0", sample.first)]
    assert sample.api.model_info(REPO, revision="v1.0").sha == sample.first
    assert sample.api.model_info(REPO, revision=sample.second[:7]).sha == sample.second


def test_a_gated_repo_needs_a_token_that_opens_it(hub_env: FakeHub) -> None:
    add_gated_sample(hub_env)
    hub_env.add_token("hf_someone_else", repos=[])
    api = HfApi(endpoint=hub_env.url)

    assert api.model_info(GATED_REPO).gated == "auto"  # metadata stays public
    with pytest.raises(GatedRepoError) as anonymous:
        hf_hub_download(GATED_REPO, "tiny.Q8_0.gguf")
    with pytest.raises(GatedRepoError) as refused:
        hf_hub_download(GATED_REPO, "tiny.Q8_0.gguf", token="hf_someone_else")
    assert (anonymous.value.response.status_code, refused.value.response.status_code) == (401, 403)

    hub_env.clear_requests()
    path = hf_hub_download(GATED_REPO, "tiny.Q8_0.gguf", token=GATED_TOKEN)
    assert Path(path).read_bytes().startswith(b"GGUF")
    head, get = hub_env.requests
    assert (head.role, head.authorization) == ("hub", f"Bearer {GATED_TOKEN}")
    assert (get.role, get.authorization) == ("cdn", None)  # never sent off the Hub


def test_private_repos_and_unknown_tokens(sample: Sample) -> None:
    sample.hub.add_repo("org/secret", private=True)
    sample.hub.commit("org/secret", {"README.md": b"hush"})
    sample.hub.add_token("hf_insider", repos=["org/secret"])

    with pytest.raises(RepositoryNotFoundError):
        sample.api.model_info("org/secret")
    assert sample.api.model_info("org/secret", token="hf_insider").id == "org/secret"
    assert [m.id for m in sample.api.list_models(search="secret")] == []
    with pytest.raises(HfHubHTTPError) as unknown:
        sample.api.model_info(REPO, token="hf_made_up")
    assert unknown.value.response.status_code == 401
    assert not isinstance(unknown.value, RepositoryNotFoundError)


def test_missing_repo_revision_and_file_raise_the_client_errors(sample: Sample) -> None:
    with pytest.raises(RepositoryNotFoundError):
        sample.api.model_info("org/nothing")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/nothing", "x.gguf")
    with pytest.raises(RevisionNotFoundError):
        sample.api.model_info(REPO, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "tiny.Q4_0.gguf", revision="0" * 40)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "absent.gguf", revision=sample.first)


def test_injected_server_errors(sample: Sample) -> None:
    sample.hub.faults.status(503, path_contains="/api/models/")
    with pytest.raises(HfHubHTTPError) as failed:
        sample.api.model_info(REPO)  # the client does not retry this call
    assert failed.value.response.status_code == 503
    assert sample.api.model_info(REPO).sha == sample.second

    sample.hub.faults.status(500, method="HEAD")
    hf_hub_download(REPO, "README.md")  # a failed HEAD is asked again at once
    heads = [r.status for r in sample.hub.requests if r.method == "HEAD"]
    assert heads == [500, 200]

    sample.hub.faults.status(502, path_contains="/repos/")
    with pytest.raises(HfHubHTTPError) as cdn:
        hf_hub_download(REPO, "tiny.Q4_0.gguf")  # nor a failed GET of the bytes
    assert cdn.value.response.status_code == 502


def ask(url: str, method: str = "GET", **headers: str) -> tuple[int, Message, bytes]:
    """One plain HTTP request, to see exactly what the server answers."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=5)
    try:
        connection.request(method, f"{parts.path}?{parts.query}", headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_headers_and_ranges_as_the_hub_sends_them(sample: Sample) -> None:
    status, redirect, _ = ask(hf_hub_url(REPO, "tiny.Q4_0.gguf", revision="main"), "HEAD")
    assert status == 302
    assert redirect["X-Repo-Commit"] == sample.second
    assert redirect["X-Linked-Etag"] == f'"{sha256(GGUF)}"'
    assert redirect["X-Linked-Size"] == str(len(GGUF))
    cdn = redirect["Location"]
    assert cdn.startswith(sample.hub.cdn_url + "/repos/")

    status, part, body = ask(cdn, Range="bytes=10-19")
    assert (status, part["Content-Range"], body) == (206, f"bytes 10-19/{len(GGUF)}", GGUF[10:20])
    assert ask(cdn, Range="bytes=-5")[2] == GGUF[-5:]
    status, beyond, _ = ask(cdn, Range=f"bytes={len(GGUF)}-")
    assert (status, beyond["Content-Range"]) == (416, f"bytes */{len(GGUF)}")

    status, small, body = ask(hf_hub_url(REPO, "README.md", revision=sample.first))
    assert (status, body) == (200, b"one\n")
    readme_oid = git_blob_oid(b"one\n")
    assert small["ETag"] == f'"{readme_oid}"'
    assert small["Accept-Ranges"] == "bytes"
    status, missing, _ = ask(hf_hub_url(REPO, "nope.txt"), "HEAD")
    assert (status, missing["X-Error-Code"]) == (404, "EntryNotFound")
    assert missing["X-Repo-Commit"] == sample.second


def test_hub_env_aims_the_module_level_client(sample: Sample) -> None:
    assert huggingface_hub.model_info(REPO).sha == sample.second
    path = hf_hub_download(REPO, "README.md")
    assert Path(path).is_relative_to(os.environ["HF_HUB_CACHE"])


def test_an_explicit_endpoint_needs_no_patching(hub_server: FakeHub, tmp_path: Path) -> None:
    hub_server.add_repo(REPO)
    sha = hub_server.commit(REPO, {"tiny.Q4_0.gguf": GGUF})
    assert hub_server.url != constants.ENDPOINT

    info = HfApi(endpoint=hub_server.url, token=False).model_info(REPO)
    path = hf_hub_download(
        REPO, "tiny.Q4_0.gguf", endpoint=hub_server.url, token=False, cache_dir=tmp_path / "c"
    )

    assert info.sha == sha and Path(path).read_bytes() == GGUF


def test_commit_checks_its_input(hub_server: FakeHub, tmp_path: Path) -> None:
    hub_server.add_repo(REPO)
    on_disk = tmp_path / "model.gguf"
    on_disk.write_bytes(GGUF)
    sha = hub_server.commit(REPO, {"model.gguf": on_disk}, sha="ab" * 20)  # hashed once, not copied

    assert sha == "ab" * 20
    info = HfApi(endpoint=hub_server.url, token=False).model_info(REPO, files_metadata=True)
    lfs = (info.siblings or [])[0].lfs
    assert lfs is not None and lfs.sha256 == sha256(GGUF)
    with pytest.raises(ValueError, match="already exists"):
        hub_server.commit(REPO, {"a.txt": b"a"}, sha="ab" * 20)
    with pytest.raises(ValueError, match="40 lower-case hex"):
        hub_server.commit(REPO, {"a.txt": b"a"}, sha="not-a-sha")
    with pytest.raises(ValueError, match="not the 3 announced"):
        hub_server.commit(REPO, {"b.gguf": LocalFile(on_disk, size=3)})
    with pytest.raises(TypeError, match="bytes, a Path or a LocalFile"):
        hub_server.commit(REPO, {"c.txt": "text"})  # type: ignore[dict-item]


def test_the_starter_repo_serves_the_real_file_at_its_pinned_commit(
    hub_server: FakeHub, starter_file: Path
) -> None:
    main = add_starter(hub_server, starter_file)
    url = hf_hub_url(
        STARTER.repo, STARTER.filename, revision=STARTER.commit, endpoint=hub_server.url
    )

    meta = get_hf_file_metadata(url, token=False)
    info = HfApi(endpoint=hub_server.url, token=False).model_info(STARTER.repo)

    assert (meta.commit_hash, meta.etag, meta.size) == (
        STARTER.commit,
        STARTER.sha256,
        STARTER.size,
    )
    assert info.sha == main != STARTER.commit
    assert all(r.role == "hub" for r in hub_server.requests)  # no 98 MB moved


def test_serve_starter_by_hand(starter_file: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "tests.hub_server",
        "--serve-starter",
        "--port",
        "0",
        "--quiet",
    ]
    root = Path(__file__).resolve().parents[3]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            lines = iter(server.stdout.readline, "")
            env_line = next(line for line in lines if line.startswith("HF_ENDPOINT="))
            endpoint = env_line.split()[0].removeprefix("HF_ENDPOINT=")
            assert env_line.split()[1] == "HF_HUB_DISABLE_XET=1"
            api = HfApi(endpoint=endpoint, token=False)
            assert api.model_info(STARTER.repo, revision=STARTER.commit).sha == STARTER.commit
            assert len(api.list_repo_commits(STARTER.repo)) == 2
        finally:
            server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0


def test_make_hub_server_takes_options(make_hub_server: Callable[..., FakeHub]) -> None:
    hub = make_hub_server(lfs_threshold=10)
    hub.add_repo(REPO)
    hub.commit(REPO, {"notes.txt": b"more than ten bytes"})

    (entry,) = HfApi(endpoint=hub.url, token=False).list_repo_tree(REPO)
    assert isinstance(entry, RepoFile) and entry.lfs is not None


def test_lfs_files_can_be_served_without_the_cdn_redirect(sample: Sample) -> None:
    sample.hub.redirect_lfs = False

    path = hf_hub_download(REPO, "tiny.Q4_0.gguf", revision=sample.first)

    assert Path(path).read_bytes() == GGUF
    assert [(r.role, r.method, r.status) for r in sample.hub.requests] == [
        ("hub", "HEAD", 200),
        ("hub", "GET", 200),
    ]


def test_a_mirror_without_lfs_in_model_info_still_answers_paths_info_and_head(
    sample: Sample,
) -> None:
    """Like olah: model info has bare siblings; paths-info and the HEAD carry the sha256."""
    sample.hub.model_info_lfs = False
    info = sample.api.model_info(REPO, revision=sample.first, files_metadata=True)
    (gguf,) = [s for s in info.siblings or [] if s.rfilename == "tiny.Q4_0.gguf"]
    assert gguf.lfs is None and gguf.size is None

    (entry,) = sample.api.get_paths_info(
        REPO, ["tiny.Q4_0.gguf"], revision=sample.first, expand=True
    )
    assert isinstance(entry, RepoFile) and entry.lfs is not None
    assert (entry.lfs.sha256, entry.lfs.size, entry.size) == (sha256(GGUF), len(GGUF), len(GGUF))
    assert entry.last_commit is not None and entry.last_commit.oid == sample.first

    url = hf_hub_url(REPO, "tiny.Q4_0.gguf", revision=sample.first, endpoint=sample.hub.url)
    meta = get_hf_file_metadata(url, token=False)
    assert (meta.etag, meta.size, meta.commit_hash) == (sha256(GGUF), len(GGUF), sample.first)
    readme = get_hf_file_metadata(
        hf_hub_url(REPO, "README.md", revision=sample.first, endpoint=sample.hub.url), token=False
    )
    assert readme.etag == git_blob_oid(b"one\n"), "a small file's etag is its git blob id"
