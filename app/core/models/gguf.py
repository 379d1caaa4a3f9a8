"""A bounded, defensive reader for GGUF model headers.

llama.cpp's own GGUF parser has had memory-safety bugs reachable from crafted files
(CVE-2024-21802, CVE-2025-53630, CVE-2026-27940), so every model Driftless loads or
imports is read here first. Every count, length, type and offset is checked against a
hard cap and against the bytes actually left in the file before it is believed; the
tensor data itself is never read; nothing is allocated from a number that has not been
checked. Anything implausible raises ``InvalidModelFile`` with a sentence that names the
file.

The layout follows ggml's ``gguf.cpp`` and ``gguf-py`` (little-endian only): magic
``GGUF``, uint32 version, uint64 tensor count, uint64 key/value count, the key/value
pairs, the tensor infos, then the tensor data at the next multiple of
``general.alignment``.

Opening the file and the bounded reads under the parser live in
:mod:`app.core.models.gguf_reader`, the type tables in :mod:`app.core.models.gguf_types`.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from app.core.errors import InvalidModelFile
from app.core.models.gguf_checks import check_hyperparameters
from app.core.models.gguf_reader import (
    U64,
    BoundedReader,
    invalid,
    open_regular_file,
    shown,
    two_sizes,
)
from app.core.models.gguf_types import (
    FILE_TYPE_GUESSED,
    VALUE_ARRAY,
    VALUE_BOOL,
    VALUE_STRING,
    VALUE_TYPES,
)
from app.core.models.gguf_types import FILE_TYPE_NAMES as FILE_TYPE_NAMES
from app.core.models.gguf_types import GGML_TYPES as GGML_TYPES
from app.core.models.gguf_types import GGMLType as GGMLType
from app.core.units import human_size

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

# Caps. Each is far above anything a real model uses and far below what would let a
# crafted file exhaust memory or time.
MAX_TENSORS = 1 << 18  # merged-expert models have a few thousand
MAX_KV_PAIRS = 1 << 16  # real models have a few dozen
MAX_KEY_BYTES = 1 << 16
MAX_TENSOR_NAME_BYTES = 63  # GGML_MAX_NAME is 64 including the terminating NUL
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_STRING_BYTES = 16 << 20
MAX_ARRAY_ITEMS = 1 << 30  # llama.cpp's GGUF_MAX_ARRAY_ELEMENTS
# Strings in big arrays are walked one by one (each has its own length prefix), so
# their total number bounds the time a hostile file can cost: about a second.
MAX_ARRAY_STRINGS = 1 << 22
# Decoded metadata kept in memory (big arrays are summarised, not kept).
MAX_KEPT_METADATA_BYTES = 64 << 20
# What one kept array item costs in memory beyond its bytes (a Python object).
_KEPT_ITEM_COST = 64
# Arrays up to this many items are kept as tuples; longer ones become ArraySummary.
SMALL_ARRAY_ITEMS = 64

_INT64_MAX = (1 << 63) - 1
_HEADER_BYTES = 24  # magic, version, tensor count, kv count
_MIN_KV_BYTES = 8 + 1 + 4 + 1  # key length, a 1-byte key, value type, a 1-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 4 + 8  # name length, name, n_dims, type, offset
_READ_BUFFER = 1 << 16


@dataclass(frozen=True)
class ArraySummary:
    """A metadata array too long to keep (a vocabulary, merges, scores)."""

    type_name: str
    length: int


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's header entry; ``shape`` is in ggml order (fastest-varying first)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    type_name: str
    offset: int  # from the start of the data section
    nbytes: int

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF file's header says, after every check passed.

    ``metadata`` maps each key to an int, float, bool or str, a tuple of those for an
    array of up to 64 items, or an ``ArraySummary`` for a longer one (a vocabulary).
    Tensor ``offset`` values count from ``data_offset``.
    """

    path: Path
    file_size: int
    version: int
    alignment: int
    data_offset: int
    metadata: Mapping[str, object]
    tensors: tuple[TensorInfo, ...]

    @property
    def architecture(self) -> str | None:
        return self._text("general.architecture")

    @property
    def name(self) -> str | None:
        return self._text("general.name")

    @property
    def license(self) -> str | None:
        return self._text("general.license")

    @property
    def chat_template(self) -> str | None:
        return self._text("tokenizer.chat_template")

    @property
    def chat_template_sha256(self) -> str | None:
        template = self.chat_template
        if template is None:
            return None
        return hashlib.sha256(template.encode("utf-8")).hexdigest()

    @property
    def context_length(self) -> int | None:
        arch = self.architecture
        return None if arch is None else self._int(f"{arch}.context_length")

    @property
    def pooling(self) -> str | None:
        """How the model's own card makes one vector of a text (``{arch}.pooling_type``,
        written by sentence encoders: "mean", "cls", "last"); None when it names none, as
        chat models do."""
        arch = self.architecture
        kind = None if arch is None else self._int(f"{arch}.pooling_type")
        return POOLING_NAMES.get(kind) if kind is not None else None

    @property
    def quantization(self) -> str | None:
        file_type = self._int("general.file_type")
        if file_type is not None and file_type >= 0:
            known = FILE_TYPE_NAMES.get(file_type & ~FILE_TYPE_GUESSED)
            if known is not None:
                return known
        # No (or an unknown) file type: name the type holding most of the bytes.
        by_bytes: Counter[str] = Counter()
        for tensor in self.tensors:
            by_bytes[tensor.type_name] += tensor.nbytes
        common = by_bytes.most_common(1)
        return common[0][0] if common else None

    @property
    def parameter_count(self) -> int | None:
        stored = self._int("general.parameter_count")
        if stored is not None:
            return stored
        if not self.tensors:
            return None
        return sum(tensor.n_elements for tensor in self.tensors)

    @property
    def expected_size(self) -> int:
        """The smallest file size that holds every tensor's data."""
        return self.data_offset + max((t.offset + t.nbytes for t in self.tensors), default=0)

    def _text(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    def _int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        # bool is an int subclass; a boolean is never a count.
        return value if isinstance(value, int) and not isinstance(value, bool) else None


POOLING_NAMES = {1: "mean", 2: "cls", 3: "last"}
"""llama.cpp's pooling types that make one vector a text (0 is none, 4 is a reranker's)."""


def read_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read and check a GGUF file's header; raise ``InvalidModelFile`` if implausible.

    Beyond the layout, the hyperparameters llama.cpp trusts are checked too
    (:mod:`app.core.models.gguf_checks`), so a file read here does not crash it on load.
    """
    file_path = Path(path)
    label = file_path.name or str(file_path)
    fd = open_regular_file(file_path, label)
    try:
        handle = os.fdopen(fd, "rb", buffering=_READ_BUFFER)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            return _Parser(handle, file_path, label, size).parse()
        except OSError as error:
            reason = error.strerror or str(error)
            raise InvalidModelFile(f"{label} cannot be read: {reason}.") from error


def _describe_foreign_start(prefix: bytes) -> str:
    """Why a file is not GGUF, from its first bytes: the mistakes people really make."""
    magic = repr(prefix[:4])[1:]  # b'PK\x03\x04' -> 'PK\x03\x04'
    if prefix.startswith(b"version https://git-lfs"):
        return "it is a Git LFS pointer, not the model itself"
    lowered = prefix.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "it is a web page, not the model itself"
    if prefix[:4] in (b"lmgg", b"fmgg", b"tjgg", b"algg"):
        return f"it starts with {magic}: an old GGML model format that llama.cpp no longer loads"
    return f"it starts with {magic}, not 'GGUF'"


class _Parser(BoundedReader):
    """One pass over the header, every read bounded by the bytes left in the file."""

    def __init__(self, handle: BinaryIO, path: Path, label: str, size: int) -> None:
        super().__init__(handle, label, size)
        self._path = path
        self._kept_bytes = 0
        self._array_strings = 0

    # -- the file, section by section ---------------------------------------------------

    def parse(self) -> GGUFInfo:
        label = self._label
        if self._size == 0:
            raise InvalidModelFile(f"{label} is empty (0 bytes).")
        prefix = self._f.read(min(self._size, 64))
        self._f.seek(0)
        if len(prefix) >= 4 and prefix[:4] != GGUF_MAGIC:
            raise InvalidModelFile(
                f"{label} is not a GGUF model file ({_describe_foreign_start(prefix)})."
            )
        if self._size < _HEADER_BYTES:
            raise InvalidModelFile(
                f"{label} is too small to be a GGUF model file ({human_size(self._size)})."
            )
        self._skip(4)
        version = self._read_version()
        n_tensors, n_kv = self._read_counts()
        metadata, alignment = self._read_metadata(n_kv)
        tensors = self._read_tensor_infos(n_tensors, alignment)
        # gguf.cpp pads to the alignment only when there is tensor data to align.
        header_end = self._pos
        data_offset = -(-header_end // alignment) * alignment if tensors else header_end
        info = GGUFInfo(
            path=self._path,
            file_size=self._size,
            version=version,
            alignment=alignment,
            data_offset=data_offset,
            metadata=MappingProxyType(metadata),
            tensors=tensors,
        )
        self._check_layout(info)
        check_hyperparameters(info)  # values llama.cpp would trust blindly
        return info

    def _read_version(self) -> int:
        version = self._u32()
        if version in SUPPORTED_VERSIONS:
            return version
        label = self._label
        if version & 0xFFFF == 0 and version != 0:
            raise InvalidModelFile(
                f"{label} is a big-endian GGUF file; Driftless and llama.cpp on this "
                "computer read only little-endian ones."
            )
        if version == 1:
            raise InvalidModelFile(
                f"{label} uses GGUF version 1, which llama.cpp no longer loads; "
                "get a version of the model converted after August 2023."
            )
        raise InvalidModelFile(
            f"{label} uses GGUF version {version}; Driftless reads versions 2 and 3 only."
        )

    def _read_counts(self) -> tuple[int, int]:
        n_tensors = self._u64()
        n_kv = self._u64()
        room = self._remaining
        if n_tensors > MAX_TENSORS or n_tensors * _MIN_TENSOR_INFO_BYTES > room:
            raise invalid(
                self._label,
                f"it claims {n_tensors:,} tensors, more than a file of "
                f"{human_size(self._size)} can describe",
            )
        room -= n_tensors * _MIN_TENSOR_INFO_BYTES
        if n_kv > MAX_KV_PAIRS or n_kv * _MIN_KV_BYTES > room:
            raise invalid(
                self._label,
                f"it claims {n_kv:,} metadata entries, more than a file of "
                f"{human_size(self._size)} can describe",
            )
        return n_tensors, n_kv

    def _read_metadata(self, n_kv: int) -> tuple[dict[str, object], int]:
        metadata: dict[str, object] = {}
        alignment = DEFAULT_ALIGNMENT
        for index in range(1, n_kv + 1):
            raw_key = self._string_bytes(MAX_KEY_BYTES, f"metadata key #{index}")
            if not raw_key:
                raise invalid(self._label, f"metadata key #{index} is empty")
            try:
                key = raw_key.decode("utf-8")
            except UnicodeDecodeError:
                raise invalid(
                    self._label, f"metadata key #{index} is not valid UTF-8 text"
                ) from None
            if key in metadata:
                raise invalid(self._label, f"the metadata key {shown(key)} appears twice")
            value_type = self._u32()
            if key == "general.alignment":
                # gguf.cpp insists on uint32 here; agreeing avoids a later surprise.
                if value_type != 4:
                    raise invalid(self._label, "general.alignment is not a uint32")
                alignment = self._u32()
                if alignment == 0 or alignment & (alignment - 1):
                    raise invalid(self._label, f"its alignment {alignment} is not a power of two")
                metadata[key] = alignment
                continue
            metadata[key] = self._read_value(key, value_type)
        return metadata, alignment

    def _read_value(self, key: str, value_type: int) -> object:
        if value_type == VALUE_ARRAY:
            return self._read_array(key)
        if value_type == VALUE_STRING:
            return self._read_text(f"the value of {shown(key)}")
        known = VALUE_TYPES.get(value_type)
        if known is None:
            raise invalid(self._label, f"the value of {shown(key)} has unknown type {value_type}")
        _, fmt, size = known
        value: object = struct.unpack("<" + fmt, self._take(size))[0]
        return bool(value) if value_type == VALUE_BOOL else value

    def _read_text(self, where: str) -> str:
        raw = self._string_bytes(MAX_STRING_BYTES, where)
        self._keep(len(raw))
        # Values are only shown or hashed, so a stray byte is replaced, not fatal.
        return raw.decode("utf-8", errors="replace")

    def _keep(self, n_bytes: int) -> None:
        self._kept_bytes += n_bytes
        if self._kept_bytes > MAX_KEPT_METADATA_BYTES:
            raise invalid(
                self._label,
                f"its metadata is larger than the {human_size(MAX_KEPT_METADATA_BYTES)} "
                "Driftless accepts",
            )

    def _read_array(self, key: str) -> tuple[object, ...] | ArraySummary:
        item_type = self._u32()
        count = self._u64()
        if item_type == VALUE_ARRAY:
            raise invalid(self._label, f"the array {shown(key)} holds arrays, which GGUF forbids")
        known = VALUE_TYPES.get(item_type)
        if known is None:
            raise invalid(
                self._label, f"the array {shown(key)} holds items of unknown type {item_type}"
            )
        type_name, fmt, min_size = known
        if count > MAX_ARRAY_ITEMS or count * min_size > self._remaining:
            raise invalid(
                self._label,
                f"the array {shown(key)} claims {count:,} items, "
                "more than the rest of the file can hold",
            )
        if item_type == VALUE_STRING:
            self._array_strings += count
            if self._array_strings > MAX_ARRAY_STRINGS:
                raise invalid(
                    self._label,
                    f"its metadata holds more than {MAX_ARRAY_STRINGS:,} strings in arrays",
                )
            if count <= SMALL_ARRAY_ITEMS:
                self._keep(count * _KEPT_ITEM_COST)
                return tuple(self._read_text(f"item {i} of {shown(key)}") for i in range(count))
            self._skip_strings(count, key)
            return ArraySummary(type_name, count)
        if count > SMALL_ARRAY_ITEMS:
            self._skip(count * min_size)
            return ArraySummary(type_name, count)
        items = struct.unpack(f"<{count}{fmt}", self._take(count * min_size))
        self._keep(count * (min_size + _KEPT_ITEM_COST))
        if item_type == VALUE_BOOL:
            return tuple(bool(item) for item in items)
        return tuple(items)

    def _skip_strings(self, count: int, key: str) -> None:
        # The hot loop for a vocabulary (tens of thousands of tokens): locals only.
        read = self._f.read
        seek = self._f.seek
        unpack = U64.unpack
        size = self._size
        pos = self._pos
        for index in range(count):
            if size - pos < 8:
                self._pos = pos
                self._take(8)  # raises "truncated"
            prefix = read(8)
            if len(prefix) != 8:
                raise InvalidModelFile(f"{self._label} changed while it was being read.")
            pos += 8
            (length,) = unpack(prefix)
            if length > size - pos or length > MAX_STRING_BYTES:
                # Rare: let the general reader say which limit was broken.
                self._pos = pos - 8
                self._f.seek(-8, os.SEEK_CUR)
                self._string_bytes(MAX_STRING_BYTES, f"item {index} of {shown(key)}")
                raise AssertionError("unreachable: _string_bytes raised")
            if length:
                seek(length, os.SEEK_CUR)
                pos += length
        self._pos = pos

    def _read_tensor_infos(self, n_tensors: int, alignment: int) -> tuple[TensorInfo, ...]:
        tensors: list[TensorInfo] = []
        seen: set[str] = set()
        for index in range(1, n_tensors + 1):
            raw_name = self._string_bytes(MAX_TENSOR_NAME_BYTES, f"the name of tensor #{index}")
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError:
                raise invalid(
                    self._label, f"the name of tensor #{index} is not valid UTF-8 text"
                ) from None
            if not name:
                raise invalid(self._label, f"tensor #{index} has an empty name")
            if name in seen:
                raise invalid(self._label, f"two tensors are named {shown(name)}")
            seen.add(name)
            n_dims = self._u32()
            if n_dims > MAX_DIMS:
                raise invalid(
                    self._label,
                    f"tensor {shown(name)} has {n_dims:,} dimensions; "
                    f"at most {MAX_DIMS} are allowed",
                )
            shape = struct.unpack(f"<{n_dims}Q", self._take(8 * n_dims))
            type_id = self._u32()
            offset = self._u64()
            tensors.append(self._tensor(name, shape, type_id, offset, alignment))
        return tuple(tensors)

    def _tensor(
        self, name: str, shape: tuple[int, ...], type_id: int, offset: int, alignment: int
    ) -> TensorInfo:
        label = self._label
        ggml_type = GGML_TYPES.get(type_id)
        if ggml_type is None:
            raise invalid(label, f"tensor {shown(name)} has unknown ggml type {type_id}")
        n_elements = 1
        for dim in shape:
            if dim == 0:
                raise invalid(label, f"tensor {shown(name)} has a dimension of size 0")
            n_elements *= dim
            # Checked at every step so a hostile shape never builds a huge integer.
            if n_elements >= _INT64_MAX:
                raise invalid(label, f"tensor {shown(name)} has an impossibly large shape {shape}")
        row = shape[0] if shape else 1
        if row % ggml_type.block_size:
            raise invalid(
                label,
                f"tensor {shown(name)} has rows of {row} elements, not a multiple of "
                f"{ggml_type.name}'s block of {ggml_type.block_size}",
            )
        if offset % alignment:
            raise invalid(
                label,
                f"tensor {shown(name)} starts at offset {offset}, not a multiple of {alignment}",
            )
        nbytes = n_elements // ggml_type.block_size * ggml_type.type_size
        return TensorInfo(name, tuple(shape), type_id, ggml_type.name, offset, nbytes)

    def _check_layout(self, info: GGUFInfo) -> None:
        ordered = sorted(info.tensors, key=lambda t: t.offset)
        for before, after in itertools.pairwise(ordered):
            if after.offset < before.offset + before.nbytes:
                raise invalid(
                    self._label,
                    f"the data of tensors {shown(before.name)} and {shown(after.name)} overlap",
                )
        expected = info.expected_size
        if expected > self._size:
            have, want = two_sizes(self._size, expected)
            raise InvalidModelFile(f"{self._label} is truncated: {have} of an expected {want}.")
