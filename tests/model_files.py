"""Small valid model files for store, lockfile and window tests."""

from __future__ import annotations

import random
import struct
from collections.abc import Mapping
from pathlib import Path

from app.core.models.gguf import read_gguf
from app.core.models.store import ModelStore
from tests.gguf_factory import (
    VT,
    Tensor,
    align,
    encode_header,
    encode_kv,
    encode_tensor_info,
    typical_metadata,
    u32,
    write_gguf,
)


def tiny_model(path: Path, *, seed: int = 0, pad_bytes: int = 0) -> Path:
    """A valid GGUF file of a few kB; ``seed`` changes its bytes, ``pad_bytes`` its size."""
    rng = random.Random(seed)
    metadata = typical_metadata({"general.name": f"Tiny {seed}", "llama.context_length": u32(256)})
    tensors = [Tensor("output_norm.weight", (64,), "F32", data=rng.randbytes(256))]
    if pad_bytes:
        count = max(1, pad_bytes // 4)
        tensors.append(Tensor("padding.weight", (count,), "F32", data=rng.randbytes(count * 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_gguf(path, metadata, tensors)


# --- a starter model with other metadata -------------------------------------------------

_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _kv_spans(data: bytes, n_kv: int) -> list[tuple[str, int, int]]:
    """(key, start, end) of each metadata pair, walking the header as gguf.cpp does."""
    pos = 24  # magic, version, tensor count, kv count

    def u32() -> int:
        nonlocal pos
        (value,) = struct.unpack_from("<I", data, pos)
        pos += 4
        return int(value)

    def u64() -> int:
        nonlocal pos
        (value,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        return int(value)

    def skip(value_type: int) -> None:
        nonlocal pos
        if value_type == VT.STRING:
            length = u64()
            pos += length
        elif value_type == VT.ARRAY:
            item_type, count = u32(), u64()
            for _ in range(count):
                skip(item_type)
        else:
            pos += _FIXED_SIZES[value_type]

    spans = []
    for _ in range(n_kv):
        start = pos
        key_length = u64()
        key = data[pos : pos + key_length].decode("utf-8")
        pos += key_length
        skip(u32())
        spans.append((key, start, pos))
    return spans


def starter_with_metadata(source: Path, dest: Path, changes: Mapping[str, object | None]) -> Path:
    """A copy of ``source`` with metadata keys replaced, added or (None) removed.

    Offsets come from ``read_gguf``; the header is re-encoded with the test factory's
    encoders and the tensor data copied as is, so llama.cpp loads the result.
    """
    info = read_gguf(source)
    data = source.read_bytes()
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
    kvs = [data[start:end] for key, start, end in _kv_spans(data, n_kv) if key not in changes]
    kvs += [encode_kv(key, value) for key, value in changes.items() if value is not None]
    out = bytearray(encode_header(n_tensors, len(kvs), version))
    for kv in kvs:
        out += kv
    for tensor in info.tensors:
        out += encode_tensor_info(tensor.name, tensor.shape, tensor.ggml_type, tensor.offset)
    out += bytes(align(len(out), info.alignment) - len(out))
    out += data[info.data_offset :]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bytes(out))
    return dest


def import_variant(store: ModelStore, starter_file: Path, tmp_path: Path, **changes: object) -> str:
    name = "-".join(sorted(changes)).replace(".", "-") or "copy"
    path = starter_with_metadata(starter_file, tmp_path / f"{name}.gguf", changes)
    return store.import_file(path, link=True).id
