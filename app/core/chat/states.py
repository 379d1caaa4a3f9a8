"""Saved KV states: a conversation's evaluated prompt kept on disk (or in memory), so that
going on with it evaluates only what is new.

**What a state is.** The KV cache of one sequence after its first ``n`` tokens, as
llama.cpp's sequence state API writes it, ``n`` the end of a canonical chunk (see
:mod:`app.core.chat.prefix` for why only those are exact). It is addressed by its content:
the file name is a hash of the :class:`StateKey`, the tokens and the chunk ends, so a state
can only be found by a prompt that begins with the very same tokens, cut the same way.
Editing or deleting a message above a branch's tip changes the tokens from there on, so no
state of the old text can match the new prompt (the states of the unchanged part still
match, and are exact for it); states nobody matches any more age out of the size cap.

**What must match.** Everything that changes the numbers is in the key: the model file's
sha256, the llama-cpp-python version and llama.cpp's CPU kernels, the context size, the batch
unit, the KV cache types, flash attention, the SWA cache form. The key is written in each
file's header and compared on load (the name alone is never trusted), with the hash of the
tokens and a CRC of the payload: a truncated, corrupt or foreign file is ignored with a log
line (and removed), and the prompt is evaluated as if it were not there.

**On disk** (:class:`StateStore`): ``cache/states/`` in the data folder, files 0600 written
atomically, used files touched (their mtime is the LRU order), and a size cap
(``Settings.state_cache_mb``) kept after every save under an exclusive lock file, so the
window, the command line and the API server saving at once still keep it. A full disk (any
``OSError``) skips the save with a log line and never fails a reply.

**In memory** (:class:`MemoryStates`): the API server's prefix cache, a few states per
engine, least recently used dropped first.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import json
import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from app.core.fsutil import atomic_write_bytes, make_dirs
from app.core.paths import Paths
from app.core.settings import Settings, load_settings

log = logging.getLogger(__name__)

MAGIC = b"DRIFTLESS-KV\n"
FORMAT = 1
SUFFIX = ".kvstate"
_LENGTH = struct.Struct("<I")
_HEADER_LIMIT = 1 << 16


@dataclass(frozen=True)
class StateKey:
    """Everything that changes the numbers a KV state holds."""

    model_sha256: str
    runtime: str
    """llama-cpp-python's version (it pins llama.cpp's)."""
    kernels: str
    """llama.cpp's CPU kernels (:func:`app.core.runtime.llama.cpu_kernels`)."""
    n_ctx: int
    unit: int
    """The batch unit: prompts are evaluated in chunks [0, unit), [unit, 2*unit), ..."""
    n_ubatch: int
    type_k: int
    type_v: int
    flash_attn: int
    swa_full: bool
    format: int = FORMAT

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @property
    def digest(self) -> bytes:
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass(frozen=True)
class FoundState:
    """A stored state for the first ``n_tokens`` of a prompt, and its bytes."""

    n_tokens: int
    payload: bytes | memoryview


class StateSource(Protocol):
    """Where an engine finds and keeps states: on disk or in memory."""

    def find(
        self, key: StateKey, tokens: Sequence[int], points: Sequence[int], *, above: int = 0
    ) -> FoundState | None:
        """The longest state for ``tokens[:n]`` evaluated in the chunks ``points`` cut
        (``n`` one of ``points``, above ``above``); None when there is none."""
        ...

    def has(self, key: StateKey, tokens: Sequence[int], points: Sequence[int]) -> bool:
        """Whether the state for exactly ``tokens`` (``points[-1] == len(tokens)``) is kept."""
        ...

    def save(
        self, key: StateKey, tokens: Sequence[int], points: Sequence[int], payload: bytes
    ) -> bool:
        """Keep the state for ``tokens``; False (logged) when it could not be kept."""
        ...


def _read(path: Path) -> bytearray:
    """A file's bytes in a writable buffer (llama.cpp reads a state from it in place)."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data = bytearray(size)
        read = handle.readinto(data)
    return data[:read] if read != size else data


def token_bytes(tokens: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(tokens)}i", *tokens)


def chunk_names(key: StateKey, tokens: Sequence[int], points: Sequence[int]) -> dict[int, str]:
    """The name of the state for ``tokens[:n]`` for each ``n`` in ``points`` (ascending),
    the tokens evaluated in the chunks the points cut: the name covers the key, the tokens
    and the cuts (one pass of hashing)."""
    names: dict[int, str] = {}
    digest = hashlib.sha256(key.digest)
    previous = 0
    for point in points:
        digest.update(token_bytes(tokens[previous:point]))
        digest.update(b"|")
        names[point] = digest.copy().hexdigest()
        previous = point
    return names


def state_name(key: StateKey, tokens: Sequence[int], points: Sequence[int]) -> str:
    return chunk_names(key, tokens, points)[len(tokens)]


def _tokens_sha256(tokens: Sequence[int]) -> str:
    return hashlib.sha256(token_bytes(tokens)).hexdigest()


def encode_state(
    key: StateKey, tokens: Sequence[int], points: Sequence[int], payload: bytes
) -> bytes:
    header = json.dumps(
        {
            "key": key.as_json(),
            "n_tokens": len(tokens),
            "points": list(points),
            "tokens_sha256": _tokens_sha256(tokens),
            "payload_bytes": len(payload),
            "payload_crc32": zlib.crc32(payload),
        },
        sort_keys=True,
    ).encode("utf-8")
    return MAGIC + _LENGTH.pack(len(header)) + header + payload


class BadState(ValueError):
    """A state file that must not be used: the sentence says why."""


def decode_state(
    data: bytes | bytearray, key: StateKey, tokens: Sequence[int], points: Sequence[int]
) -> memoryview:
    """The payload of a state file made for ``key``, ``tokens`` and the chunks ``points``
    cut; ``BadState`` otherwise."""
    view = memoryview(data)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise BadState("not a Driftless KV state")
    at = len(MAGIC)
    if len(view) < at + _LENGTH.size:
        raise BadState("truncated header")
    (length,) = _LENGTH.unpack(view[at : at + _LENGTH.size])
    at += _LENGTH.size
    if length > _HEADER_LIMIT or len(view) < at + length:
        raise BadState("truncated header")
    try:
        header = json.loads(bytes(view[at : at + length]).decode("utf-8"))
    except ValueError as exc:
        raise BadState("unreadable header") from exc
    if not isinstance(header, dict):
        raise BadState("unreadable header")
    if header.get("key") != key.as_json():
        raise BadState("made by another model, runtime or context settings")
    if (
        header.get("n_tokens") != len(tokens)
        or header.get("tokens_sha256") != _tokens_sha256(tokens)
        or header.get("points") != list(points)
    ):
        raise BadState("made for other tokens")
    payload = view[at + length :]
    if header.get("payload_bytes") != len(payload):
        raise BadState("truncated")
    if header.get("payload_crc32") != zlib.crc32(payload):
        raise BadState("corrupt (its checksum does not match)")
    return payload


class StateStore:
    """States on disk, in ``folder``, at most ``cap_bytes`` in all (LRU). See the module."""

    def __init__(self, folder: Path, cap_bytes: int) -> None:
        self.folder = folder
        self.cap_bytes = cap_bytes

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}{SUFFIX}"

    def has(self, key: StateKey, tokens: Sequence[int], points: Sequence[int]) -> bool:
        return self._path(state_name(key, tokens, points)).is_file()

    def find(
        self, key: StateKey, tokens: Sequence[int], points: Sequence[int], *, above: int = 0
    ) -> FoundState | None:
        names = chunk_names(key, tokens, points)
        for n_tokens in sorted((n for n in names if n > above), reverse=True):
            path = self._path(names[n_tokens])
            try:
                data = _read(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("Cannot read the KV state %s: %s", path.name, exc.strerror)
                continue
            try:
                within = [point for point in points if point <= n_tokens]
                payload = decode_state(data, key, tokens[:n_tokens], within)
            except BadState as exc:
                log.warning("Ignoring the KV state %s: %s; removing it", path.name, exc)
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            with contextlib.suppress(OSError):
                os.utime(path)  # most recently used
            return FoundState(n_tokens, payload)
        return None

    def save(
        self, key: StateKey, tokens: Sequence[int], points: Sequence[int], payload: bytes
    ) -> bool:
        if self.cap_bytes <= 0:
            return False
        data = encode_state(key, tokens, points, payload)
        if len(data) > self.cap_bytes:
            log.info("Not saving a KV state of %d bytes: over the cap", len(data))
            return False
        try:
            make_dirs(self.folder)
            with self._locked():
                self._trim(self.cap_bytes - len(data))
                atomic_write_bytes(self._path(state_name(key, tokens, points)), data)
        except OSError as exc:
            reason = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
            log.warning("KV state not saved (%s); replies go on without it", reason)
            return False
        return True

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def clear(self) -> None:
        with self._locked():
            for path, _, _ in self._entries():
                with contextlib.suppress(OSError):
                    path.unlink()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time trims and writes (window, command line, API server)."""
        make_dirs(self.folder)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(ImportError):
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _entries(self) -> list[tuple[Path, int, float]]:
        entries = []
        try:
            listing = list(self.folder.iterdir())
        except OSError:
            return []
        for path in listing:
            if path.suffix != SUFFIX and not path.name.endswith(".tmp"):
                continue
            try:
                info = path.stat()
            except OSError:
                continue
            entries.append((path, info.st_size, info.st_mtime))
        return entries

    def _trim(self, room: int) -> None:
        """Remove the least recently used states until the rest take at most ``room``."""
        entries = sorted(self._entries(), key=lambda entry: entry[2])
        total = sum(size for _, size, _ in entries)
        for path, size, _ in entries:
            if total <= room:
                break
            if path.name.endswith(".tmp"):
                continue  # another process's write in progress
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size


def disk_states(paths: Paths, settings: Settings | None = None) -> StateStore:
    """The data folder's saved states, capped as the settings say."""
    settings = settings or load_settings(paths)
    return StateStore(paths.states_dir, settings.state_cache_mb * 1024 * 1024)


class MemoryStates:
    """A few states in memory, least recently used dropped first (the API's prefix cache)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._states: collections.OrderedDict[str, tuple[int, bytes]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def has(self, key: StateKey, tokens: Sequence[int], points: Sequence[int]) -> bool:
        return state_name(key, tokens, points) in self._states

    def find(
        self, key: StateKey, tokens: Sequence[int], points: Sequence[int], *, above: int = 0
    ) -> FoundState | None:
        names = chunk_names(key, tokens, points)
        for n_tokens in sorted((n for n in names if n > above), reverse=True):
            name = names[n_tokens]
            if name in self._states:
                self._states.move_to_end(name)
                return FoundState(n_tokens, self._states[name][1])
        return None

    def save(
        self, key: StateKey, tokens: Sequence[int], points: Sequence[int], payload: bytes
    ) -> bool:
        if self.slots <= 0:
            return False
        name = state_name(key, tokens, points)
        self._states[name] = (len(tokens), payload)
        self._states.move_to_end(name)
        while len(self._states) > self.slots:
            self._states.popitem(last=False)
        return True
