"""Downloads you can trust: exact commits, resumable partial files, sha256 before use.

A requested revision is resolved once to a commit; the file's size and LFS
sha256 are read at that commit, and the bytes are fetched from that commit
only. They stream into ``<file>.incomplete`` beside a small JSON note of what
they should become, hashed on the way. Pausing (or a closed or killed app)
leaves both, and the next pull continues with an HTTP Range request. Only when
the whole file's sha256 matches is it renamed into place, checked by the GGUF
reader and registered. Nothing unverified ever becomes a model.

The bytes are fetched with huggingface_hub's own HTTP session, headers and
error mapping, but through this module's loop rather than ``hf_hub_download``:
that function reports progress only to a ``tqdm`` class, cannot be cancelled
between chunks, checks the size but not the sha256, and deletes its partial
file when interrupted, so a paused download would start again from zero.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.errors import (
    Cancelled,
    ChecksumMismatch,
    DriftlessError,
    InvalidModelFile,
    NetworkError,
    StoreError,
)
from app.core.fsutil import (
    CHUNK,
    atomic_write_text,
    create_private,
    fsync_dir,
    hash_file,
    is_safe_relative_path,
    make_dirs,
    open_private,
    remove_empty_parents,
)
from app.core.hub.client import COMMIT_RE, HubClient, HubError, RemoteFile, online, translate_error
from app.core.models.gguf import read_gguf
from app.core.models.registration import Provenance
from app.core.models.store import InstalledModel, ModelStore
from app.core.settings import Settings
from app.core.text import printable
from app.core.units import human_size

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".incomplete"
NOTE_SUFFIX = ".incomplete.json"


class DownloadBusy(DriftlessError):
    """Another Driftless process is downloading the same file."""


@dataclass(frozen=True)
class DownloadProgress:
    repo: str
    filename: str
    done: int
    total: int
    bytes_per_second: float
    eta_seconds: float | None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressFn = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class PartialDownload:
    """A download that was paused or interrupted and can be resumed."""

    repo: str
    commit: str
    revision: str
    filename: str
    sha256: str
    size: int
    done: int
    path: Path

    @property
    def note_path(self) -> Path:
        return self.path.with_name(self.path.name[: -len(PARTIAL_SUFFIX)] + NOTE_SUFFIX)


def hub_folder(store: ModelStore, repo: str, commit: str) -> Path:
    return store.paths.models_dir / "hub" / repo.replace("/", "--") / commit


class _Rate:
    """Bytes per second over the last few seconds, for speed and ETA."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self.samples: list[tuple[float, int]] = []

    def add(self, when: float, done: int) -> float:
        self.samples.append((when, done))
        while len(self.samples) > 2 and when - self.samples[0][0] > self.window:
            self.samples.pop(0)
        first_time, first_done = self.samples[0]
        elapsed = when - first_time
        return (done - first_done) / elapsed if elapsed > 0 else 0.0


class Downloader:
    """Pulls GGUF files from the Hub into the store, verified, resumable, cancellable."""

    def __init__(
        self,
        store: ModelStore,
        settings: Settings,
        *,
        client: HubClient | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self.client = client or HubClient(settings)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

    # --- public -----------------------------------------------------------

    def pull(
        self,
        repo: str,
        filename: str,
        revision: str = "main",
        *,
        pin: bool = False,
        expected_sha256: str | None = None,
        on_progress: ProgressFn | None = None,
        on_status: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> InstalledModel:
        """Download ``filename`` of ``repo`` at ``revision`` (resolved to a commit) and install it.

        Returns the installed model (at once if that exact version is installed).
        Raises :class:`Cancelled` on pause or cancel, leaving a resumable partial file.
        """
        cancel = cancel or CancelToken()
        say = on_status or (lambda _message: None)
        _check_request(repo, filename)
        commit = revision if COMMIT_RE.match(revision) else self.client.resolve(repo, revision)
        tracked = revision if not COMMIT_RE.match(revision) else None
        existing = self.store.find_version(repo, commit, filename)
        if existing is not None:
            say(f"{existing.id} ({repo}@{commit[:7]}) is already installed.")
            return existing
        remote = self.client.file_at(repo, filename, commit)
        if remote.sha256 is None or remote.size < 0:
            missing = "sha256" if remote.sha256 is None else "size"
            raise HubError(
                f"The Hub announces no {missing} for {repo}/{filename} (asked in model info, "
                "paths-info and the file's headers at that commit); Driftless installs only "
                "files it can verify."
            )
        say(f"{filename}: sha256 {remote.sha256[:12]}… from the Hub's {remote.sha256_source}.")
        if expected_sha256 is not None and remote.sha256 != expected_sha256:
            raise ChecksumMismatch(
                f"{repo}/{filename} at {commit[:7]} has sha256 {remote.sha256} on the Hub, "
                f"but {expected_sha256} was required. Nothing was downloaded.",
                expected=expected_sha256,
                actual=remote.sha256,
            )
        final = hub_folder(self.store, repo, commit) / filename
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        note = final.with_name(final.name + NOTE_SUFFIX)
        make_dirs(partial.parent)
        try:
            with _exclusive(final.with_name(final.name + ".lock"), remote):
                done = self._prepare_partial(partial, note, remote, tracked or revision)
                try:
                    self.store.check_free_space(remote.size - done)
                    if done:
                        say(
                            f"Resuming {filename} at {human_size(done)} of "
                            f"{human_size(remote.size)}."
                        )
                    digest = self._download(remote, partial, on_progress, say, cancel)
                except BaseException:
                    self._drop_if_empty(partial, note)
                    raise
                if digest != remote.sha256:
                    partial.unlink(missing_ok=True)
                    note.unlink(missing_ok=True)
                    raise ChecksumMismatch(
                        f"{repo}/{filename} arrived damaged: its sha256 is {digest}, but the Hub "
                        f"announced {remote.sha256}. The file was deleted and nothing was "
                        "installed. Try again; if it repeats, the mirror serves bad data.",
                        expected=remote.sha256,
                        actual=digest,
                    )
                os.replace(partial, final)
                note.unlink(missing_ok=True)
                fsync_dir(final.parent)
        except BaseException:
            if not partial.exists():  # nothing to resume: leave no empty folders behind
                remove_empty_parents(final.parent, self.store.paths.models_dir)
            raise
        try:
            info = read_gguf(final)
        except InvalidModelFile:
            final.unlink(missing_ok=True)
            raise
        model = self.store.register(
            final,
            Provenance(
                source="hub", repo=repo, commit=commit, revision=tracked, license=remote.license
            ),
            sha256=digest,
            managed=True,
            info=info,
            pinned=pin,
            filename=filename,
        )
        say(f"Installed {model.id} ({repo}@{commit[:7]}), sha256 verified.")
        return model

    def partials(self) -> list[PartialDownload]:
        """Downloads left paused or interrupted, newest first, to offer for resumption."""
        found = []
        for note in (self.store.paths.models_dir / "hub").rglob("*" + NOTE_SUFFIX):
            partial = note.with_name(note.name[: -len(NOTE_SUFFIX)] + PARTIAL_SUFFIX)
            try:
                data = json.loads(note.read_text(encoding="utf-8"))
                found.append(
                    PartialDownload(
                        repo=data["repo"],
                        commit=data["commit"],
                        revision=data.get("revision", data["commit"]),
                        filename=data["filename"],
                        sha256=data["sha256"],
                        size=int(data["size"]),
                        done=partial.stat().st_size if partial.exists() else 0,
                        path=partial,
                    )
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("Ignoring unreadable download note %s: %s", note, exc)
        found.sort(key=lambda p: p.note_path.stat().st_mtime if p.note_path.exists() else 0)
        return found[::-1]

    def discard(self, partial: PartialDownload) -> None:
        """Cancel for good: delete a partial file and its note."""
        partial.path.unlink(missing_ok=True)
        partial.note_path.unlink(missing_ok=True)
        remove_empty_parents(partial.path.parent, self.store.paths.models_dir)

    def resume(self, partial: PartialDownload, **options: Any) -> InstalledModel:
        return self.pull(partial.repo, partial.filename, partial.commit, **options)

    # --- internals --------------------------------------------------------

    def _drop_if_empty(self, partial: Path, note: Path) -> None:
        """After a refusal, remove a partial file that holds nothing worth resuming.

        A partial with bytes in it stays (with its note) so the next pull resumes; an
        empty one would only be offered as a "paused" download of nothing.
        """
        try:
            if partial.exists() and partial.stat().st_size > 0:
                return
            partial.unlink(missing_ok=True)
            note.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("Could not remove the empty partial %s: %s", partial, exc)

    def _prepare_partial(self, partial: Path, note: Path, remote: RemoteFile, revision: str) -> int:
        """Bytes already downloaded that can be kept; writes the note for a new download."""
        wanted = {
            "repo": remote.repo,
            "commit": remote.commit,
            "revision": revision,
            "filename": remote.filename,
            "sha256": remote.sha256,
            "size": remote.size,
        }
        try:
            old = json.loads(note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        same = isinstance(old, dict) and all(
            old.get(k) == wanted[k] for k in ("sha256", "size", "commit")
        )
        done = partial.stat().st_size if partial.exists() else 0
        if not same or done > remote.size:
            partial.unlink(missing_ok=True)
            done = 0
        if not same:
            atomic_write_text(note, json.dumps(wanted, indent=2) + "\n")
        create_private(partial)
        return done

    def _download(
        self,
        remote: RemoteFile,
        partial: Path,
        on_progress: ProgressFn | None,
        say: Callable[[str], None],
        cancel: CancelToken,
    ) -> str:
        state = _State.of_file(partial)
        rate = _Rate()
        failures = 0
        while state.done < remote.size:
            cancel.raise_if_cancelled()
            before = state.done
            try:
                self._fetch_range(remote, partial, state, rate, on_progress, cancel)
                if state.done >= remote.size:
                    break
                error: DriftlessError = NetworkError(
                    f"The connection closed early at {human_size(state.done)} of "
                    f"{human_size(remote.size)}."
                )
            except Cancelled:
                raise
            except DriftlessError as exc:
                if not _retryable(exc):
                    raise
                error = exc
            if partial.stat().st_size != state.done:  # a write failed halfway: trust the disk
                state = _State.of_file(partial)
            failures = 0 if state.done > before else failures + 1
            if failures > self.settings.download_retries:
                raise NetworkError(
                    f"{remote.filename}: the download kept failing ({error}) and is paused at "
                    f"{human_size(state.done)} of {human_size(remote.size)}. Pull again to resume."
                )
            delay = min(self.backoff_base * 2 ** max(failures - 1, 0), self.backoff_max)
            say(f"{error} Retrying in {delay:.1f} s.")
            if cancel.wait(delay):
                raise Cancelled()
        digest: str = state.hasher.hexdigest()
        return digest

    def _fetch_range(
        self,
        remote: RemoteFile,
        partial: Path,
        state: _State,
        rate: _Rate,
        on_progress: ProgressFn | None,
        cancel: CancelToken,
    ) -> None:
        """One GET from ``state.done`` to the end, appending to the partial file."""
        with online(self.settings):
            import httpx2
            from huggingface_hub import get_session, hf_hub_url, hf_raise_for_status
            from huggingface_hub.utils._headers import build_hf_headers

            url = hf_hub_url(
                remote.repo,
                remote.filename,
                revision=remote.commit,
                endpoint=self.settings.hub_endpoint.rstrip("/"),
            )
            headers = build_hf_headers(token=self.settings.hub_token or False)
            if state.done:
                headers["Range"] = f"bytes={state.done}-"
            timeout = httpx2.Timeout(self.settings.stall_timeout, connect=15.0)
            try:
                with _stream(get_session(), url, headers, timeout, self.settings) as response:
                    hf_raise_for_status(response)
                    if state.done and response.status_code != 206:
                        state.restart()  # the server ignored Range: start over
                    with partial.open("r+b") as out:
                        out.seek(state.done)
                        out.truncate()
                        try:
                            for chunk in response.iter_bytes(CHUNK):
                                if cancel.cancelled:
                                    raise Cancelled()
                                if state.done + len(chunk) > remote.size:
                                    raise HubError(
                                        f"{remote.filename}: the server sent more bytes than "
                                        f"the {remote.size:,} it announced."
                                    )
                                _write(out, chunk, partial)
                                state.add(chunk)
                                if on_progress is not None:
                                    on_progress(_progress(remote, state.done, rate))
                        finally:
                            out.flush()
                            os.fsync(out.fileno())
            except DriftlessError:
                raise
            except Exception as exc:
                raise translate_error(
                    exc, self.settings, f"{remote.repo}/{remote.filename}"
                ) from exc


MAX_REDIRECTS = 10
"""The Hub sends a download through one redirect (to its CDN); ten is generous."""


@contextlib.contextmanager
def _stream(
    session: Any, url: str, headers: dict[str, str], timeout: Any, settings: Settings
) -> Iterator[Any]:
    """A streamed GET that follows redirects itself, to stop at the first loop.

    httpx would follow twenty redirects of a loop and raise an error the retry loop
    takes for a network hiccup (126 requests over 31 s); a loop is a broken server,
    so it ends the download at once, in one sentence. httpx still builds each next
    request, so the Authorization header is dropped on leaving the Hub's origin.
    """
    request = session.build_request("GET", url, headers=headers, timeout=timeout)
    seen = {str(request.url)}
    for _ in range(MAX_REDIRECTS + 1):
        response = session.send(request, stream=True, follow_redirects=False)
        following = response.next_request if response.has_redirect_location else None
        if following is None:
            try:
                yield response
            finally:
                response.close()
            return
        response.close()
        if str(following.url) in seen:
            raise HubError(
                f"{settings.hub_endpoint} redirects the download of {printable(url, 200)} "
                "in a loop. Nothing was downloaded; check the Hub endpoint in the model "
                "manager's settings, or try again later."
            )
        seen.add(str(following.url))
        request = following
    raise HubError(
        f"{settings.hub_endpoint} redirected the download of {printable(url, 200)} more "
        f"than {MAX_REDIRECTS} times. Nothing was downloaded; check the Hub endpoint in "
        "the model manager's settings, or try again later."
    )


class _State:
    """Bytes on disk so far and the sha256 of exactly those bytes."""

    def __init__(self, hasher: Any, done: int) -> None:
        self.hasher = hasher
        self.done = done

    @classmethod
    def of_file(cls, path: Path) -> _State:
        hasher = hash_file(path)
        return cls(hasher, path.stat().st_size)

    def add(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.done += len(chunk)

    def restart(self) -> None:
        self.hasher = hashlib.sha256()
        self.done = 0


def _write(out: Any, chunk: bytes, partial: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise StoreError(
            f"Could not write {partial.name}: {exc.strerror or exc}. The download is paused; "
            "free some disk space and pull again to resume."
        ) from exc


def _progress(remote: RemoteFile, done: int, rate: _Rate) -> DownloadProgress:
    speed = rate.add(time.monotonic(), done)
    eta = (remote.size - done) / speed if speed > 0 else None
    return DownloadProgress(remote.repo, remote.filename, done, remote.size, speed, eta)


def _check_request(repo: str, filename: str) -> None:
    if not is_safe_relative_path(filename):
        raise InvalidModelFile(
            f"'{filename}' is not a file name Driftless will write: it would leave the model store."
        )
    if not filename.lower().endswith(".gguf"):
        raise InvalidModelFile(
            f"'{filename}' is not a GGUF file. Driftless runs GGUF models; pick a .gguf file."
        )
    if repo.count("/") != 1 or not is_safe_relative_path(repo):
        raise InvalidModelFile(f"'{repo}' is not a Hub repository name like 'owner/name'.")


RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _retryable(exc: DriftlessError) -> bool:
    """Network trouble and server errors are retried; refusals are not."""
    if isinstance(exc, HubError):
        return exc.status in RETRY_STATUS
    return type(exc) is NetworkError


@contextlib.contextmanager
def _exclusive(lock_path: Path, remote: RemoteFile) -> Iterator[None]:
    """One downloader per file: a second window or command is told, not let in to corrupt."""
    try:
        import fcntl
    except ImportError:  # Windows: the partial file's own sharing rules apply
        yield
        return
    with open_private(lock_path, "ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise DownloadBusy(
                f"{remote.repo}/{remote.filename} is already being downloaded by another "
                "Driftless window or command."
            ) from exc
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
