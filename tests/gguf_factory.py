"""A small GGUF writer for tests: valid files in one call, broken ones on purpose.

It is written independently of ``app.core.models.gguf`` (its own tables, its own encoding), so a
mistake in the reader is not mirrored here and hidden.

    path = write_gguf(tmp_path / "m.gguf", {"general.architecture": "llama"},
                      [Tensor("w", (32, 4), "Q8_0")])

Python values pick a GGUF type (bool -> BOOL, int -> UINT32/INT32/UINT64/INT64 by range,
float -> FLOAT32, str/bytes -> STRING, list/tuple -> ARRAY); wrap a value in ``u8``,
``f64``, ``array(...)`` and friends to choose the type yourself. For broken files, every
layer is exposed: ``build_gguf`` returns the bytes with the offsets of each section, and
``encode_*`` build single pieces to splice in, e.g. ``extra_kvs=[raw_kv("k", 13, b"")]``
for an unknown value type, or ``n_tensors=2**63`` for an absurd count.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any


class VT(IntEnum):
    """GGUF metadata value types."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_FORMATS = {
    VT.UINT8: "<B",
    VT.INT8: "<b",
    VT.UINT16: "<H",
    VT.INT16: "<h",
    VT.UINT32: "<I",
    VT.INT32: "<i",
    VT.FLOAT32: "<f",
    VT.BOOL: "<?",
    VT.UINT64: "<Q",
    VT.INT64: "<q",
    VT.FLOAT64: "<d",
}

# name -> (ggml type id, block size, bytes per block): enough types for tests. Pass an
# int type id and ``data=`` for any other.
GGML = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22),
    "Q8_0": (8, 32, 34),
    "Q4_K": (12, 256, 144),
    "Q6_K": (14, 256, 210),
    "BF16": (30, 1, 2),
    "I32": (26, 1, 4),
}


@dataclass(frozen=True)
class Typed:
    """A metadata value with an explicit type (``item_type`` for arrays)."""

    type: int
    value: object
    item_type: int | None = None


def u8(v: int) -> Typed:
    return Typed(VT.UINT8, v)


def i8(v: int) -> Typed:
    return Typed(VT.INT8, v)


def u16(v: int) -> Typed:
    return Typed(VT.UINT16, v)


def i16(v: int) -> Typed:
    return Typed(VT.INT16, v)


def u32(v: int) -> Typed:
    return Typed(VT.UINT32, v)


def i32(v: int) -> Typed:
    return Typed(VT.INT32, v)


def u64(v: int) -> Typed:
    return Typed(VT.UINT64, v)


def i64(v: int) -> Typed:
    return Typed(VT.INT64, v)


def f32(v: float) -> Typed:
    return Typed(VT.FLOAT32, v)


def f64(v: float) -> Typed:
    return Typed(VT.FLOAT64, v)


def array(item_type: int, values: Iterable[object]) -> Typed:
    return Typed(VT.ARRAY, list(values), item_type)


@dataclass(frozen=True)
class Tensor:
    """A tensor to write. ``shape`` is in ggml order (row length first).

    ``offset`` None lays it out after the previous tensor, aligned; ``data`` None writes
    zeros of the right size; ``n_dims`` overrides the count written before the dims.
    """

    name: str | bytes
    shape: tuple[int, ...]
    ggml_type: str | int = "F32"
    offset: int | None = None
    data: bytes | None = None
    n_dims: int | None = None

    @property
    def type_id(self) -> int:
        return self.ggml_type if isinstance(self.ggml_type, int) else GGML[self.ggml_type][0]

    @property
    def nbytes(self) -> int:
        if self.data is not None:
            return len(self.data)
        if isinstance(self.ggml_type, int):
            raise ValueError("a tensor with a raw type id needs data=")
        _, block, size = GGML[self.ggml_type]
        count = 1
        for dim in self.shape:
            count *= dim
        return count // block * size


# -- single pieces ------------------------------------------------------------------------


def encode_string(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def infer_type(value: object) -> int:
    if isinstance(value, Typed):
        return value.type
    if isinstance(value, bool):
        return VT.BOOL
    if isinstance(value, int):
        if 0 <= value < 2**32:
            return VT.UINT32
        if -(2**31) <= value < 0:
            return VT.INT32
        return VT.UINT64 if value >= 0 else VT.INT64
    if isinstance(value, float):
        return VT.FLOAT32
    if isinstance(value, str | bytes):
        return VT.STRING
    if isinstance(value, list | tuple):
        return VT.ARRAY
    raise TypeError(f"no GGUF type for {value!r}")


def encode_payload(value: object, value_type: int | None = None) -> bytes:
    """The bytes of a value, without its type id."""
    vtype = infer_type(value) if value_type is None else value_type
    raw = value.value if isinstance(value, Typed) else value
    if vtype == VT.STRING:
        assert isinstance(raw, str | bytes)
        return encode_string(raw)
    if vtype == VT.ARRAY:
        assert isinstance(raw, list | tuple)
        if isinstance(value, Typed) and value.item_type is not None:
            item_type = value.item_type
        else:
            item_type = infer_type(raw[0]) if raw else VT.UINT8
        head = struct.pack("<IQ", item_type, len(raw))
        return head + b"".join(_array_item(item, item_type) for item in raw)
    return struct.pack(_FORMATS[VT(vtype)], raw)


def _array_item(item: object, item_type: int) -> bytes:
    if item_type == VT.ARRAY:  # nested: each item carries its own array header
        return encode_payload(item, VT.ARRAY)
    return encode_payload(item, item_type)


def encode_kv(key: str | bytes, value: object) -> bytes:
    return encode_string(key) + struct.pack("<I", infer_type(value)) + encode_payload(value)


def raw_kv(key: str | bytes, value_type: int, payload: bytes) -> bytes:
    """A key/value pair with any type id and any payload, valid or not."""
    return encode_string(key) + struct.pack("<I", value_type) + payload


def encode_tensor_info(
    name: str | bytes,
    shape: Sequence[int],
    ggml_type: int,
    offset: int,
    n_dims: int | None = None,
) -> bytes:
    dims = len(shape) if n_dims is None else n_dims
    return (
        encode_string(name)
        + struct.pack("<I", dims)
        + b"".join(struct.pack("<Q", d) for d in shape)
        + struct.pack("<IQ", ggml_type, offset)
    )


def encode_header(n_tensors: int, n_kv: int, version: int = 3, magic: bytes = b"GGUF") -> bytes:
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv)


def overwrite(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, in place when the file exists.

    ``Path.write_bytes`` on an existing file truncates it to zero first, and ext4 then
    flushes it to disk on close (auto_da_alloc): milliseconds per call, which adds up in
    loops that rewrite one file thousands of times.
    """
    with path.open("r+b" if path.is_file() else "wb") as handle:
        handle.write(data)
        handle.truncate(len(data))
    return path


def align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


# -- whole files --------------------------------------------------------------------------


@dataclass
class GGUFBytes:
    """A built file and where its parts start, for cutting and patching it."""

    data: bytes
    kv_offsets: list[int] = field(default_factory=list)
    tensor_info_offsets: list[int] = field(default_factory=list)
    header_end: int = 0
    data_offset: int = 0
    tensor_offsets: dict[str, int] = field(default_factory=dict)  # absolute, per name

    def write(self, path: Path) -> Path:
        return overwrite(path, self.data)

    def patched(self, at: int, new: bytes) -> bytes:
        """The bytes with ``new`` written over position ``at``."""
        return self.data[:at] + new + self.data[at + len(new) :]


Metadata = Mapping[str, object] | Sequence[tuple[str | bytes, object]]


def build_gguf(
    metadata: Metadata | None = None,
    tensors: Sequence[Tensor] = (),
    *,
    version: int = 3,
    alignment: int = 32,
    magic: bytes = b"GGUF",
    n_tensors: int | None = None,
    n_kv: int | None = None,
    extra_kvs: Sequence[bytes] = (),
    alignment_key: bool | None = None,
    pad_end: bool = True,
) -> GGUFBytes:
    """Build a GGUF file in memory.

    ``metadata`` may be a list of pairs, to repeat a key. ``general.alignment`` is added
    (as a uint32) when ``alignment`` is not 32, or when ``alignment_key`` is True.
    ``n_tensors``/``n_kv`` override the counts written in the header. ``extra_kvs``
    are raw pairs appended after the metadata (and counted).
    """
    pairs: list[tuple[str | bytes, object]] = list(
        metadata.items() if isinstance(metadata, Mapping) else (metadata or [])
    )
    keys = {k for k, _ in pairs}
    wants_key = alignment != 32 if alignment_key is None else alignment_key
    if wants_key and "general.alignment" not in keys:
        pairs.append(("general.alignment", u32(alignment)))

    encoded_kvs = [encode_kv(k, v) for k, v in pairs] + list(extra_kvs)
    out = bytearray(
        encode_header(
            len(tensors) if n_tensors is None else n_tensors,
            len(encoded_kvs) if n_kv is None else n_kv,
            version,
            magic,
        )
    )
    built = GGUFBytes(b"")
    for kv in encoded_kvs:
        built.kv_offsets.append(len(out))
        out += kv

    offsets: list[int] = []
    cursor = 0
    for tensor in tensors:
        offset = cursor if tensor.offset is None else tensor.offset
        offsets.append(offset)
        cursor = align(max(cursor, offset + tensor.nbytes), alignment)
        built.tensor_info_offsets.append(len(out))
        out += encode_tensor_info(tensor.name, tensor.shape, tensor.type_id, offset, tensor.n_dims)
    built.header_end = len(out)
    built.data_offset = align(len(out), alignment) if tensors else len(out)

    blob = bytearray()
    for tensor, offset in zip(tensors, offsets, strict=True):
        name = tensor.name if isinstance(tensor.name, str) else tensor.name.decode("latin-1")
        built.tensor_offsets[name] = built.data_offset + offset
        data = tensor.data if tensor.data is not None else bytes(tensor.nbytes)
        if not data:  # lets a test claim a far-away offset without writing up to it
            continue
        end = offset + len(data)
        if len(blob) < end:
            blob += bytes(end - len(blob))
        blob[offset:end] = data
    if pad_end and tensors:
        blob += bytes(align(len(blob), alignment) - len(blob))
    if tensors:
        out += bytes(built.data_offset - len(out))
    out += blob
    built.data = bytes(out)
    return built


def write_gguf(
    path: Path,
    metadata: Metadata | None = None,
    tensors: Sequence[Tensor] = (),
    **options: Any,
) -> Path:
    """Build a GGUF file (see ``build_gguf`` for the options) and write it to ``path``."""
    return build_gguf(metadata, tensors, **options).write(path)


def typical_metadata(overrides: Mapping[str, object] | None = None) -> dict[str, object]:
    """Metadata shaped like a small llama model's; an override of None drops a key."""
    metadata: dict[str, object] = {
        "general.architecture": "llama",
        "general.name": "Tiny Test Model",
        "general.license": "apache-2.0",
        "general.file_type": u32(7),  # Q8_0
        "llama.context_length": u32(2048),
        "llama.embedding_length": u32(64),
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": [f"tok{i}" for i in range(100)],
        "tokenizer.chat_template": (
            "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
        ),
    }
    for key, value in (overrides or {}).items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    return metadata


def typical_tensors() -> list[Tensor]:
    return [
        Tensor("token_embd.weight", (64, 100), "Q8_0"),
        Tensor("output_norm.weight", (64,), "F32"),
    ]
