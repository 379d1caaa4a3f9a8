"""The fake Hub's content and its Python API: repos, commits, blobs, faults, the request log.

``FakeHub`` builds repos in memory (file bodies on disk under its root) and starts the HTTP
listeners of ``tests.fake_hub.http``, which read this model under ``FakeHub._lock``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from app.core.fsutil import atomic_write_bytes, is_safe_relative_path, sha256_file

if TYPE_CHECKING:
    from tests.fake_hub.http import HubServer

LFS_THRESHOLD = 10 * 1024 * 1024
_LFS_SPEC = "https://git-lfs.github.com/spec/v1"


@dataclass(frozen=True)
class LocalFile:
    """A file served in place from disk. Give sha256 and size when known, to skip hashing."""

    path: Path
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Blob:
    path: Path
    size: int
    oid: str  # git blob id: of the content, or of the LFS pointer file
    sha256: str | None = None  # LFS files only
    pointer_size: int | None = None

    @property
    def etag(self) -> str:
        return self.sha256 or self.oid


@dataclass(frozen=True)
class Commit:
    sha: str
    title: str
    message: str
    date: datetime
    author: str
    parent: str | None
    files: Mapping[str, Blob]


@dataclass
class Repo:
    repo_id: str
    gated: Literal["auto", "manual", False] = False
    private: bool = False
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=list)
    license: str | None = None
    pipeline_tag: str | None = None
    library_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    branches: dict[str, str] = field(default_factory=dict)
    tag_refs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)


@dataclass
class RequestRecord:
    role: str  # "hub" or "cdn"
    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    status: int | None = None
    body_bytes: int = 0

    @property
    def range(self) -> str | None:
        return self.headers.get("range")

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class _Fault:
    kind: str
    times: int | None
    path_contains: str | None = None
    method: str | None = None
    code: int = 0
    error_code: str | None = None
    message: str | None = None
    n_bytes: int = 0
    seconds: float = 0.0
    filename: str | None = None


class Faults:
    """Failures to inject, each for the next ``times`` matching requests (None: for ever)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def status(
        self,
        code: int,
        *,
        times: int | None = 1,
        path_contains: str | None = None,
        method: str | None = None,
        error_code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer matching requests with ``code`` (and ``X-Error-Code``, if given)."""
        self._add(_Fault("status", times, path_contains, method, code, error_code, message))

    def drop_after(
        self, n_bytes: int, *, times: int | None = 1, path_contains: str | None = None
    ) -> None:
        """Close the connection after ``n_bytes`` of a file body (resolve or CDN GET)."""
        self._add(_Fault("drop", times, path_contains, "GET", n_bytes=n_bytes))

    def stall(
        self,
        seconds: float,
        *,
        after_bytes: int = 0,
        times: int | None = 1,
        path_contains: str | None = None,
    ) -> None:
        """Stop sending a file body for ``seconds`` after ``after_bytes``, then go on."""
        self._add(
            _Fault("stall", times, path_contains, "GET", n_bytes=after_bytes, seconds=seconds)
        )

    def corrupt(self, filename: str, *, times: int | None = None) -> None:
        """Serve repo file ``filename`` with its bytes inverted; announced size and hashes stay."""
        self._add(_Fault("corrupt", times, filename=filename))

    def redirect_loop(self, *, times: int | None = None, path_contains: str | None = None) -> None:
        """Answer matching requests with a 302 back to the very same URL."""
        self._add(_Fault("redirect", times, path_contains))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(
        self, kind: str, method: str, path: str, filename: str | None = None
    ) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (
                    fault.kind != kind
                    or (fault.method is not None and fault.method != method)
                    or (fault.path_contains is not None and fault.path_contains not in path)
                    or (fault.filename is not None and fault.filename != filename)
                ):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None


class HubError(Exception):
    """A Hub error answer: a status, ``X-Error-Code``/``X-Error-Message`` and a JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered for this process while its size and mtime hold."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


class FakeHub:
    """Model repos, their commits and refs, served over HTTP once started."""

    def __init__(
        self, root: Path, *, lfs_threshold: int = LFS_THRESHOLD, page_size: int = 1000
    ) -> None:
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        self.lfs_threshold = lfs_threshold
        self.page_size = page_size  # items per page for listings paginated with a Link header
        self.redirect_lfs = True
        # A mirror such as olah (what hf-mirror style deployments run): model info lists
        # siblings without their size or LFS data; paths-info and the resolve HEAD still
        # carry them, as on the Hub.
        self.model_info_lfs = True
        # A hostile or broken Hub: rewrites each model-info answer (a dict) before it is sent.
        self.rewrite_info: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.verbose = False
        self.faults = Faults()
        self.tokens: dict[str, frozenset[str] | None] = {}
        self._repos: dict[str, Repo] = {}
        self._lfs_blobs: dict[str, Blob] = {}
        self._lock = threading.RLock()
        self._log: list[RequestRecord] = []
        self._stopping = threading.Event()
        self._servers: list[HubServer] = []
        self._counter = 0

    # -- building repos --------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        *,
        gated: Literal["auto", "manual", False] | bool = False,
        private: bool = False,
        downloads: int = 0,
        likes: int = 0,
        tags: Iterable[str] = (),
        license: str | None = None,
        pipeline_tag: str | None = None,
        library_name: str | None = None,
        extra: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> None:
        """Create an empty repo; ``extra`` fields are merged into its model-info JSON."""
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise ValueError(f"repo id must be 'namespace/name', got {repo_id!r}")
        with self._lock:
            if repo_id in self._repos:
                raise ValueError(f"repo {repo_id} already exists")
            self._repos[repo_id] = Repo(
                repo_id,
                gated="auto" if gated is True else gated,
                private=private,
                downloads=downloads,
                likes=likes,
                tags=list(tags),
                license=license,
                pipeline_tag=pipeline_tag,
                library_name=library_name,
                extra=dict(extra or {}),
                created_at=created_at or datetime.now(UTC),
            )

    def commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | os.PathLike[str] | LocalFile],
        *,
        message: str = "Upload files",
        branch: str = "main",
        delete: Iterable[str] = (),
        sha: str | None = None,
        date: datetime | None = None,
        author: str = "driftless-test",
    ) -> str:
        """Commit on top of ``branch`` (created if new), move it, and return the commit sha."""
        blobs = {name: self._blob(name, value) for name, value in files.items()}
        with self._lock:
            repo = self._repo(repo_id)
            parent = repo.branches.get(branch)
            tree = dict(repo.commits[parent].files) if parent else {}
            for name in delete:
                tree.pop(name, None)
            tree.update(blobs)
            when = date or datetime.now(UTC)
            if sha is None:
                self._counter += 1
                seed = f"{repo_id}\n{parent}\n{message}\n{when}\n{sorted(tree)}\n{self._counter}"
                sha = hashlib.sha1(seed.encode()).hexdigest()
            if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
                raise ValueError(f"a commit sha is 40 lower-case hex digits, got {sha!r}")
            if sha in repo.commits:
                raise ValueError(f"commit {sha} already exists in {repo_id}")
            title, _, body = message.partition("\n")
            repo.commits[sha] = Commit(sha, title, body.strip(), when, author, parent, tree)
            repo.branches[branch] = sha
            for blob in blobs.values():
                if blob.sha256:
                    self._lfs_blobs[blob.sha256] = blob
            return sha

    def set_ref(self, repo_id: str, name: str, sha: str, *, tag: bool = False) -> None:
        """Create or move a branch (or a tag) to an existing commit."""
        with self._lock:
            repo = self._repo(repo_id)
            if sha not in repo.commits:
                raise ValueError(f"no commit {sha} in {repo_id}")
            (repo.tag_refs if tag else repo.branches)[name] = sha

    def head(self, repo_id: str, branch: str = "main") -> str:
        with self._lock:
            return self._repo(repo_id).branches[branch]

    def add_token(self, token: str, repos: Iterable[str] | None = None) -> None:
        """Accept ``token``; it opens gated and private repos in ``repos`` (None: all of them)."""
        with self._lock:
            self.tokens[token] = None if repos is None else frozenset(repos)

    def _repo(self, repo_id: str) -> Repo:
        try:
            return self._repos[repo_id]
        except KeyError:
            raise KeyError(f"no repo {repo_id}; call add_repo first") from None

    def _blob(self, name: str, value: bytes | os.PathLike[str] | LocalFile) -> Blob:
        if not is_safe_relative_path(name):
            raise ValueError(f"bad path in repo: {name!r}")
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
            sha256: str | None = hashlib.sha256(data).hexdigest()
            path = self.root / "objects" / str(sha256)
            if not path.exists():
                atomic_write_bytes(path, data)
            size = len(data)
        elif isinstance(value, (LocalFile, os.PathLike)):
            local = value if isinstance(value, LocalFile) else LocalFile(Path(value))
            path, sha256 = Path(local.path), local.sha256
            size = path.stat().st_size
            if local.size is not None and local.size != size:
                raise ValueError(f"{path} has {size} bytes, not the {local.size} announced")
        else:
            raise TypeError(f"file content for {name!r} must be bytes, a Path or a LocalFile")
        if not (name.endswith(".gguf") or size >= self.lfs_threshold):
            return Blob(path, size, git_blob_oid(path.read_bytes()))
        sha256 = sha256 or file_sha256(path)
        pointer = f"version {_LFS_SPEC}\noid sha256:{sha256}\nsize {size}\n".encode()
        return Blob(path, size, git_blob_oid(pointer), sha256, len(pointer))

    # -- serving -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if not self._servers:
            raise RuntimeError("the fake hub is not started")
        return f"http://127.0.0.1:{self._servers[0].server_port}"

    @property
    def cdn_url(self) -> str:
        if not self._servers:
            raise RuntimeError("the fake hub is not started")
        return f"http://127.0.0.1:{self._servers[1].server_port}"

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def start(self, port: int = 0, cdn_port: int = 0) -> FakeHub:
        from tests.fake_hub.http import HubServer  # here: the HTTP module imports this one

        self._stopping.clear()
        self._servers = [HubServer(self, "hub", port), HubServer(self, "cdn", cdn_port)]
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"fake-{server.role}",
                daemon=True,
            )
            thread.start()
            server.thread = thread
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends stalls early
        for server in self._servers:
            server.shutdown()
            server.close_connections()
            server.server_close()
            server.thread.join(timeout=5)
        self._servers = []

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
