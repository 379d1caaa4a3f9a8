"""Talking to the Hugging Face Hub (or a company mirror) through huggingface_hub.

Only the model manager uses this module; chat and classification never import
it (an import contract says so). Every call names the endpoint explicitly
(huggingface_hub reads its environment once, at import) and runs inside
:func:`online`, which refuses at once when the user chose to work offline. The
client's telemetry ping and Xet transfers are switched off before it is imported.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from app.core.errors import DriftlessError, ModelNotFound, NetworkError
from app.core.fsutil import SHA256_RE, is_safe_relative_path
from app.core.settings import Settings
from app.core.text import is_printable, printable

if TYPE_CHECKING:
    from huggingface_hub import HfApi

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
MAX_NAME = 400
"""Longest repo id, filename or licence Driftless accepts from a Hub answer."""
log = logging.getLogger(__name__)
QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32|TQ\d_\d|MXFP4)(?![A-Za-z0-9])",
    re.IGNORECASE,
)


MODEL_INFO = "model info"
PATHS_INFO = "paths-info"
RESOLVE_HEAD = "the file's X-Linked-Etag"
HASH_SOURCES = (MODEL_INFO, PATHS_INFO, RESOLVE_HEAD)
"""Where a file's sha256 can come from, most trusted first. Mirrors such as olah leave the
LFS data out of model info; paths-info and a HEAD on the resolve URL at the exact commit
carry it too (huggingface_hub's ``get_paths_info`` and ``get_hf_file_metadata``)."""


class HubError(NetworkError):
    """The Hub answered, but not with what was asked for."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GatedRepo(HubError):
    """The repository needs an accepted licence and an access token."""


class OfflineMode(NetworkError):
    """Driftless is set to work offline."""


@dataclass(frozen=True)
class RepoSummary:
    repo: str
    downloads: int
    likes: int
    last_modified: datetime | None
    gated: bool = False


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repo at an exact commit, with the hash the Hub announces for it."""

    repo: str
    commit: str
    filename: str
    size: int
    sha256: str | None
    license: str | None = None
    sha256_source: str | None = None
    """Where the Hub's answer carried the sha256 (one of :data:`HASH_SOURCES`), or None."""

    @property
    def quantization(self) -> str | None:
        return quantization_from_name(self.filename)


def quantization_from_name(filename: str) -> str | None:
    """The quant type a GGUF filename names (``model.Q4_K_M.gguf`` -> ``Q4_K_M``)."""
    stem = filename.rsplit("/", 1)[-1]
    stem = stem[: -len(".gguf")] if stem.lower().endswith(".gguf") else stem
    matches = QUANT_RE.findall(stem)
    return matches[-1].upper() if matches else None


_online_lock = threading.Lock()
_online_users = 0


def _import_hub() -> Any:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    import huggingface_hub
    from huggingface_hub import constants

    # Read at import; set again in case something imported the client first.
    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.HF_HUB_DISABLE_XET = True
    return huggingface_hub


@contextmanager
def online(settings: Settings) -> Iterator[None]:
    """Allow the Hub client to connect for the duration of one model-manager call."""
    if settings.offline:
        raise OfflineMode(
            "Driftless is set to work offline. Turn off 'Work offline' in the model manager's "
            "settings to search or download."
        )
    global _online_users
    hub = _import_hub()
    with _online_lock:
        _online_users += 1
        hub.constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        with _online_lock:
            _online_users -= 1
            if _online_users == 0 and os.environ.get("HF_HUB_OFFLINE") == "1":
                hub.constants.HF_HUB_OFFLINE = True


def translate_error(exc: Exception, settings: Settings, what: str) -> DriftlessError:
    """A huggingface_hub or network exception as a sentence a user can act on."""
    hub = _import_hub()
    errors = hub.errors
    import httpx2

    endpoint = settings.hub_endpoint
    if isinstance(exc, DriftlessError):
        return exc
    if isinstance(exc, errors.GatedRepoError):  # a subclass of RepositoryNotFoundError
        return GatedRepo(
            f"{what} is gated: accept its licence on the Hub's page, then add an access token "
            "in the model manager's settings."
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return ModelNotFound(
            f"{what} was not found on {endpoint}. Check the name; a private repo needs an "
            "access token."
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return ModelNotFound(f"{what}: that revision does not exist on {endpoint}.")
    if isinstance(exc, errors.EntryNotFoundError):
        return ModelNotFound(f"{what}: that file does not exist at that revision.")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return OfflineMode("Driftless is offline; the Hub was not contacted.")
    if isinstance(exc, errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return HubError(
            f"{endpoint} answered {status or 'an error'} for {what}. Try again later.",
            status=status,
        )
    if isinstance(exc, httpx2.TooManyRedirects):
        return HubError(
            f"{endpoint} redirects {what} in a loop. Check the Hub endpoint in the model "
            "manager's settings, or try again later."
        )
    if isinstance(exc, httpx2.TimeoutException):
        return NetworkError(f"{endpoint} did not answer in time ({what}). Try again later.")
    if isinstance(exc, httpx2.HTTPError | OSError):
        return NetworkError(
            f"Cannot reach {endpoint} ({type(exc).__name__}: {exc}). Check the connection or "
            "the Hub endpoint in the model manager's settings."
        )
    return HubError(f"Unexpected answer from {endpoint} for {what}: {exc}")


_reachable: dict[str, float] = {}
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


def probe_endpoint(settings: Settings, timeout: float = 5.0) -> None:
    """Fail fast, in one sentence, when the endpoint cannot be reached at all.

    huggingface_hub retries a refused connection with backoff for about 20 seconds
    before it gives up; a window should say "cannot reach" at once instead. Behind a
    proxy the endpoint is not dialled directly, so the probe steps aside.
    """
    endpoint = settings.hub_endpoint
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return
    if time.monotonic() - _reachable.get(endpoint, -1e9) < 60:
        return
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        raise NetworkError(
            f"Cannot reach {endpoint} ({exc.strerror or exc}). Check the connection or the "
            "Hub endpoint in the model manager's settings."
        ) from exc
    _reachable[endpoint] = time.monotonic()


class HubClient:
    """Search, list and resolve files on the Hub, at exact commits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _api(self) -> HfApi:
        hub = _import_hub()
        api: HfApi = hub.HfApi(
            endpoint=self.settings.hub_endpoint.rstrip("/"),
            token=self.settings.hub_token or False,
        )
        return api

    @contextmanager
    def _call(self, what: str) -> Iterator[HfApi]:
        with online(self.settings):
            probe_endpoint(self.settings)
            try:
                yield self._api()
            except DriftlessError:
                raise
            except Exception as exc:
                raise translate_error(exc, self.settings, what) from exc

    def resolve(self, repo: str, revision: str = "main") -> str:
        """The commit sha a revision (branch, tag or sha) points at now."""
        with self._call(f"{repo}@{revision}") as api:
            info = api.model_info(repo, revision=revision)
        sha = info.sha
        if not isinstance(sha, str) or not COMMIT_RE.match(sha):
            raise HubError(f"{self.settings.hub_endpoint} gave no commit for {repo}@{revision}.")
        return sha

    def file_at(self, repo: str, filename: str, commit: str) -> RemoteFile:
        """Size and LFS sha256 of one file at an exact commit."""
        with self._call(f"{repo}/{filename}") as api:
            info = api.model_info(repo, revision=commit, files_metadata=True)
        check = _Answer(self.settings.hub_endpoint, repo)
        for sibling in info.siblings or []:
            if sibling.rfilename == filename:
                found = check.remote_file(sibling, commit, check.license(info))
                return self._complete(check, [found])[0]
        raise ModelNotFound(f"{repo} has no file '{filename}' at commit {commit[:7]}.")

    def gguf_files(self, repo: str, revision: str = "main") -> tuple[str, list[RemoteFile]]:
        """The commit a revision points at and the GGUF files there, with sizes and hashes."""
        with self._call(repo) as api:
            info = api.model_info(repo, revision=revision, files_metadata=True)
        check = _Answer(self.settings.hub_endpoint, repo)
        commit = check.commit(info.sha, revision)
        license = check.license(info)
        files = [
            check.remote_file(sibling, commit, license)
            for sibling in info.siblings or []
            if check.filename(sibling.rfilename).lower().endswith(".gguf")
        ]
        return commit, sorted(self._complete(check, files), key=lambda f: f.size)

    def _complete(self, check: _Answer, files: list[RemoteFile]) -> list[RemoteFile]:
        """Fill in the sha256 and size model info left out, from paths-info, then a HEAD."""
        missing = {f.filename: f for f in files if f.sha256 is None or f.size < 0}
        if not missing:
            return files
        commit = next(iter(missing.values())).commit
        try:
            with self._call(f"{check.repo} (paths-info)") as api:
                entries = api.get_paths_info(
                    check.repo, list(missing), revision=commit, expand=True
                )
        except OfflineMode:
            raise
        except DriftlessError as exc:  # a mirror without paths-info: the HEAD may still say
            log.info("paths-info failed on %s: %s", self.settings.hub_endpoint, exc)
            entries = []
        for entry in entries:
            path = getattr(entry, "path", None)
            if isinstance(path, str) and path in missing and hasattr(entry, "blob_id"):
                missing[path] = check.with_paths_info(missing[path], entry)
        for name, remote in missing.items():
            if remote.sha256 is None or remote.size < 0:
                missing[name] = self._with_head(check, remote)
        return [missing.get(f.filename, f) for f in files]

    def _with_head(self, check: _Answer, remote: RemoteFile) -> RemoteFile:
        """The X-Linked-Etag (or ETag) and X-Linked-Size of the file at the exact commit."""
        hub = _import_hub()
        endpoint = self.settings.hub_endpoint.rstrip("/")
        url = hub.hf_hub_url(check.repo, remote.filename, revision=remote.commit, endpoint=endpoint)
        what = f"{check.repo}/{printable(remote.filename, 120)}"
        with self._call(what):
            meta = hub.get_hf_file_metadata(url, token=self.settings.hub_token or False)
        if meta.commit_hash is not None and meta.commit_hash != remote.commit:
            raise _refuse(self.settings.hub_endpoint, f"commit for {what}", meta.commit_hash)
        sha256, source = remote.sha256, remote.sha256_source
        etag = meta.etag.lower() if isinstance(meta.etag, str) else None
        if sha256 is None and etag is not None and SHA256_RE.match(etag):
            # Only an LFS file's etag is its sha256; a small file's is its git blob id.
            sha256, source = etag, RESOLVE_HEAD
        size = remote.size
        if size < 0 and meta.size is not None:
            size = _count(self.settings.hub_endpoint, meta.size, f"size of {what}")
        return replace(remote, size=size, sha256=sha256, sha256_source=source)

    def search(self, query: str, limit: int = 30) -> list[RepoSummary]:
        """GGUF model repos matching a query, most downloaded first."""
        with self._call(f"search '{query}'") as api:
            found = list(
                api.list_models(search=query or None, filter="gguf", sort="downloads", limit=limit)
            )
        endpoint = self.settings.hub_endpoint
        return [
            RepoSummary(
                repo=_repo_id(endpoint, m.id),
                downloads=_count(endpoint, m.downloads, f"downloads of {printable(m.id, 80)}"),
                likes=_count(endpoint, m.likes, f"likes of {printable(m.id, 80)}"),
                last_modified=m.last_modified if isinstance(m.last_modified, datetime) else None,
                gated=bool(m.gated),
            )
            for m in found
        ]


# --- what a Hub answer may contain ----------------------------------------------------
#
# huggingface_hub passes the Hub's JSON through as it came. A mirror, a proxy or a hostile
# server can announce a size of "abc", a sha256 of a few bytes, a filename with "../" or
# an escape code in it: each is refused here, in a sentence, before anything is written.


def _refuse(endpoint: str, what: str, value: object) -> HubError:
    return HubError(
        f"{endpoint} gave an invalid {what} ({printable(repr(value), 80)}); Driftless uses "
        "nothing from an answer it cannot check. Try again later, or check the Hub endpoint "
        "in the model manager's settings."
    )


def _count(endpoint: str, value: object, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _refuse(endpoint, what, value)
    return value


def _name(endpoint: str, value: object, what: str) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_NAME
        or not is_printable(value)
        or not is_safe_relative_path(value)
    ):
        raise _refuse(endpoint, what, value)
    return value


def _repo_id(endpoint: str, value: object) -> str:
    repo = _name(endpoint, value, "repository name")
    if repo.count("/") != 1:
        raise _refuse(endpoint, "repository name", value)
    return repo


@dataclass(frozen=True)
class _Answer:
    """Checks for the parts of one repo's model-info answer that Driftless relies on."""

    endpoint: str
    repo: str

    def commit(self, value: object, revision: str) -> str:
        if not isinstance(value, str) or not COMMIT_RE.match(value):
            raise _refuse(self.endpoint, f"commit for {self.repo}@{printable(revision, 80)}", value)
        return value

    def filename(self, value: object) -> str:
        return _name(self.endpoint, value, f"file name in {self.repo}")

    def remote_file(self, sibling: Any, commit: str, license: str | None) -> RemoteFile:
        filename = self.filename(sibling.rfilename)
        lfs = sibling.lfs
        what = f"{self.repo}/{printable(filename, 120)}"
        announced = lfs.size if lfs is not None else sibling.size
        # No size at all (a mirror's bare sibling list) is unknown, not 0 bytes: -1 until
        # paths-info or a HEAD fills it in.
        size = -1 if announced is None else _count(self.endpoint, announced, f"size of {what}")
        sha256 = self.sha256(lfs.sha256, what) if lfs is not None else None
        return RemoteFile(
            repo=self.repo,
            commit=commit,
            filename=filename,
            size=size,
            sha256=sha256,
            license=license,
            sha256_source=MODEL_INFO if sha256 else None,
        )

    def sha256(self, value: object, what: str) -> str:
        sha256 = value.lower() if isinstance(value, str) else value
        if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
            raise _refuse(self.endpoint, f"sha256 of {what}", value)
        return sha256

    def with_paths_info(self, remote: RemoteFile, entry: Any) -> RemoteFile:
        """``remote`` completed from a ``RepoFile`` of ``get_paths_info`` (``lfs``: BlobLfsInfo)."""
        what = f"{self.repo}/{printable(remote.filename, 120)}"
        lfs = entry.lfs
        announced = lfs.size if lfs is not None else entry.size
        size = remote.size
        if size < 0 and announced is not None:
            size = _count(self.endpoint, announced, f"size of {what}")
        sha256, source = remote.sha256, remote.sha256_source
        if sha256 is None and lfs is not None:
            sha256, source = self.sha256(lfs.sha256, what), PATHS_INFO
        return replace(remote, size=size, sha256=sha256, sha256_source=source)

    def license(self, info: Any) -> str | None:
        value = _license(info)
        if value is not None and (len(value) > 100 or not is_printable(value) or "<" in value):
            raise _refuse(self.endpoint, f"licence for {self.repo}", value)
        return value


def _license(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    value = card.get("license") if card is not None else None
    if isinstance(value, str):
        return value
    for tag in getattr(info, "tags", None) or []:
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None
