"""The GGUF header reader: every field of a valid file, and every way a file can lie."""

from __future__ import annotations

import hashlib
import os
import random
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.errors import InvalidModelFile
from app.core.models import gguf
from app.core.models.gguf import (
    GGML_TYPES,
    ArraySummary,
    GGUFInfo,
    TensorInfo,
    read_gguf,
)
from app.core.runtime.results import embedding_pooling
from app.core.units import human_size
from tests.gguf_factory import (
    VT,
    Tensor,
    Typed,
    array,
    build_gguf,
    encode_header,
    encode_string,
    f32,
    f64,
    i8,
    i16,
    i32,
    i64,
    overwrite,
    raw_kv,
    typical_metadata,
    typical_tensors,
    u8,
    u16,
    u32,
    u64,
    write_gguf,
)


def rejected(path: Path) -> str:
    """The message read_gguf refuses ``path`` with; it always names the file."""
    with pytest.raises(InvalidModelFile) as caught:
        read_gguf(path)
    message = str(caught.value)
    assert path.name in message
    return message


def put(tmp_path: Path, data: bytes, name: str = "m.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def sparse(tmp_path: Path, head: bytes, size: int) -> Path:
    """``head`` followed by zeros up to ``size`` bytes, without writing the zeros."""
    path = put(tmp_path, head)
    with path.open("r+b") as handle:
        handle.truncate(size)
    return path


# -- a valid file --------------------------------------------------------------------------

TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}{% endfor %}"


def test_a_valid_file_round_trips_every_field(tmp_path: Path) -> None:
    metadata: dict[str, object] = {
        "general.architecture": "llama",
        "general.name": "Tiny",
        "general.license": "mit",
        "general.file_type": u32(15),
        "general.parameter_count": u64(12345),
        "llama.context_length": u32(4096),
        "v.u8": u8(255),
        "v.i8": i8(-128),
        "v.u16": u16(65535),
        "v.i16": i16(-32768),
        "v.u32": u32(2**32 - 1),
        "v.i32": i32(-(2**31)),
        "v.f32": f32(0.5),
        "v.bool": True,
        "v.u64": u64(2**64 - 1),
        "v.i64": i64(-(2**63)),
        "v.f64": f64(0.1),
        "v.text": "héllo ✓",
        "v.ints": [1, 2, 3],
        "v.texts": ["a", "", "ü"],
        "v.bools": array(VT.BOOL, [True, False]),
        "v.floats": array(VT.FLOAT64, [1.5, -2.0]),
        "v.empty": array(VT.INT32, []),
        "v.sixty_four": array(VT.UINT8, range(64)),
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(65)],
        "v.many_ints": array(VT.INT32, range(1000)),
        "tokenizer.chat_template": TEMPLATE,
    }
    tensors = [
        Tensor("blk.0.q", (256, 2), "Q4_K"),
        Tensor("blk.0.norm", (32,), "Q4_1"),
        Tensor("blk.0.four_d", (4, 3, 2, 1), "F16"),
        Tensor("scalar", (), "F32"),
    ]
    built = build_gguf(metadata, tensors, version=2, alignment=64)
    path = built.write(tmp_path / "tiny.gguf")

    info = read_gguf(path)

    assert info.path == path
    assert info.file_size == len(built.data)
    assert info.version == 2
    assert info.alignment == 64
    assert info.data_offset == built.data_offset
    assert info.data_offset % 64 == 0
    assert dict(info.metadata) == {
        "general.architecture": "llama",
        "general.name": "Tiny",
        "general.license": "mit",
        "general.file_type": 15,
        "general.parameter_count": 12345,
        "llama.context_length": 4096,
        "v.u8": 255,
        "v.i8": -128,
        "v.u16": 65535,
        "v.i16": -32768,
        "v.u32": 2**32 - 1,
        "v.i32": -(2**31),
        "v.f32": 0.5,
        "v.bool": True,
        "v.u64": 2**64 - 1,
        "v.i64": -(2**63),
        "v.f64": 0.1,
        "v.text": "héllo ✓",
        "v.ints": (1, 2, 3),
        "v.texts": ("a", "", "ü"),
        "v.bools": (True, False),
        "v.floats": (1.5, -2.0),
        "v.empty": (),
        "v.sixty_four": tuple(range(64)),
        "tokenizer.ggml.tokens": ArraySummary("string", 65),
        "v.many_ints": ArraySummary("int32", 1000),
        "tokenizer.chat_template": TEMPLATE,
        "general.alignment": 64,
    }
    assert type(info.metadata["v.bool"]) is bool
    assert info.tensors == (
        TensorInfo("blk.0.q", (256, 2), 12, "Q4_K", 0, 2 * 144),
        TensorInfo("blk.0.norm", (32,), 3, "Q4_1", 320, 20),
        TensorInfo("blk.0.four_d", (4, 3, 2, 1), 1, "F16", 384, 48),
        TensorInfo("scalar", (), 0, "F32", 448, 4),
    )
    for tensor in info.tensors:
        assert built.tensor_offsets[tensor.name] == info.data_offset + tensor.offset
    assert info.tensors[2].n_elements == 24
    assert info.architecture == "llama"
    assert info.name == "Tiny"
    assert info.license == "mit"
    assert info.context_length == 4096
    assert info.quantization == "Q4_K_M"
    assert info.parameter_count == 12345
    assert info.chat_template == TEMPLATE
    assert info.chat_template_sha256 == hashlib.sha256(TEMPLATE.encode()).hexdigest()
    assert info.expected_size == info.data_offset + 448 + 4
    assert info.expected_size <= info.file_size
    with pytest.raises(TypeError):
        info.metadata["x"] = 1  # type: ignore[index]


def test_derived_fields_fall_back_when_metadata_is_missing(tmp_path: Path) -> None:
    tensors = [
        Tensor("a", (64, 10), "Q8_0"),  # 680 bytes
        Tensor("b", (64, 2), "F32"),  # 512 bytes
        Tensor("c", (64,), "F32"),  # 256 bytes: F32 now holds more bytes
    ]
    info = read_gguf(write_gguf(tmp_path / "bare.gguf", {}, tensors))
    assert info.architecture is None
    assert info.name is None
    assert info.license is None
    assert info.context_length is None
    assert info.chat_template is None
    assert info.chat_template_sha256 is None
    assert info.quantization == "F32"
    assert info.parameter_count == 640 + 128 + 64


@pytest.mark.parametrize(
    ("file_type", "expected"),
    [(3, "Q4_1"), (15, "Q4_K_M"), (1024 | 18, "Q6_K"), (999, "Q8_0"), (-1, "Q8_0")],
)
def test_quantization_names_the_file_type_or_the_dominant_tensor_type(
    tmp_path: Path, file_type: int, expected: str
) -> None:
    value = i32(file_type) if file_type < 0 else u32(file_type)
    path = write_gguf(
        tmp_path / "m.gguf", {"general.file_type": value}, [Tensor("w", (64, 4), "Q8_0")]
    )
    assert read_gguf(path).quantization == expected


@pytest.mark.parametrize(
    ("metadata", "pooling", "used"),
    [
        ({"general.architecture": "bert", "bert.pooling_type": u32(2)}, "cls", "cls"),
        ({"general.architecture": "nomic-bert", "nomic-bert.pooling_type": u32(1)}, "mean", "mean"),
        ({"general.architecture": "bert", "bert.pooling_type": u32(4)}, None, "mean"),  # rank
        ({"general.architecture": "llama"}, None, "mean"),  # a chat model names none
    ],
)
def test_a_sentence_encoders_own_pooling_is_read_and_used(
    tmp_path: Path, metadata: dict[str, object], pooling: str | None, used: str
) -> None:
    info = read_gguf(write_gguf(tmp_path / "e.gguf", metadata, [Tensor("w", (64,), "F32")]))
    assert info.pooling == pooling
    assert embedding_pooling(info.pooling) == used


def test_a_file_without_tensors_is_read(tmp_path: Path) -> None:
    built = build_gguf({"general.architecture": "llama"})
    info = read_gguf(built.write(tmp_path / "vocab-only.gguf"))
    assert info.tensors == ()
    assert info.parameter_count is None
    assert info.quantization is None
    # gguf.cpp pads to the alignment only before tensor data.
    assert info.data_offset == info.expected_size == len(built.data)


def test_a_bad_utf8_string_value_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", [("general.name", b"caf\xe9")])
    assert read_gguf(path).name == "caf\ufffd"


def test_a_custom_alignment_places_the_data(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", {}, [Tensor("w", (8,))], alignment=4096)
    info = read_gguf(path)
    assert (info.alignment, info.data_offset) == (4096, 4096)


# -- the ggml type table ---------------------------------------------------------------------

# (id, block size, bytes per block), typed in from llama.cpp's gguf-py GGML_QUANT_SIZES.
LLAMA_CPP_TYPES = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22),
    "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34),
    "Q8_1": (9, 32, 40),
    "Q2_K": (10, 256, 84),
    "Q3_K": (11, 256, 110),
    "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176),
    "Q6_K": (14, 256, 210),
    "Q8_K": (15, 256, 292),
    "IQ2_XXS": (16, 256, 66),
    "IQ2_XS": (17, 256, 74),
    "IQ3_XXS": (18, 256, 98),
    "IQ1_S": (19, 256, 50),
    "IQ4_NL": (20, 32, 18),
    "IQ3_S": (21, 256, 110),
    "IQ2_S": (22, 256, 82),
    "IQ4_XS": (23, 256, 136),
    "I8": (24, 1, 1),
    "I16": (25, 1, 2),
    "I32": (26, 1, 4),
    "I64": (27, 1, 8),
    "F64": (28, 1, 8),
    "IQ1_M": (29, 256, 56),
    "BF16": (30, 1, 2),
    "TQ1_0": (34, 256, 54),
    "TQ2_0": (35, 256, 66),
    "MXFP4": (39, 32, 17),
    "NVFP4": (40, 64, 36),
    "Q1_0": (41, 128, 18),
}


def test_the_ggml_type_table_matches_llama_cpp() -> None:
    ours = {t.name: (t.id, t.block_size, t.type_size) for t in GGML_TYPES.values()}
    assert ours == LLAMA_CPP_TYPES
    assert all(GGML_TYPES[t.id] is t for t in GGML_TYPES.values())


@pytest.mark.parametrize("type_name", sorted(LLAMA_CPP_TYPES))
def test_every_ggml_type_gets_its_byte_size(tmp_path: Path, type_name: str) -> None:
    type_id, block, size = LLAMA_CPP_TYPES[type_name]
    nbytes = 2 * 3 * size  # two blocks per row, three rows
    tensor = Tensor("w", (2 * block, 3), type_id, data=bytes(nbytes))
    (info,) = read_gguf(write_gguf(tmp_path / "m.gguf", {}, [tensor])).tensors
    assert (info.type_name, info.ggml_type, info.nbytes) == (type_name, type_id, nbytes)


# -- sizes people read -----------------------------------------------------------------------


# -- what is not a model file at all ---------------------------------------------------------


def test_a_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "gone.gguf"
    assert rejected(path) == f"{path} does not exist."


def test_a_path_under_a_file(tmp_path: Path) -> None:
    parent = put(tmp_path, b"x", "plain")
    assert "does not exist" in rejected(parent / "m.gguf")


def test_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.gguf"
    folder.mkdir()
    assert rejected(folder) == "folder.gguf is a folder, not a model file."


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX-only")
def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.gguf"
    os.mkfifo(pipe)
    assert "is not a regular file" in rejected(pipe)


def test_an_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_gguf(tmp_path / "locked.gguf", {})

    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    # Tests often run as root, where chmod 000 stops nobody.
    monkeypatch.setattr(os, "open", refuse)
    assert rejected(path) == "locked.gguf cannot be read: permission denied."


def test_a_read_error_becomes_invalid_model_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_gguf(tmp_path / "m.gguf", {})

    def fail(self: object) -> GGUFInfo:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(gguf._Parser, "parse", fail)
    assert rejected(path) == "m.gguf cannot be read: Input/output error."


def test_an_empty_file(tmp_path: Path) -> None:
    assert rejected(put(tmp_path, b"")) == "m.gguf is empty (0 bytes)."


@pytest.mark.parametrize("data", [b"GGU", b"GGUF", b"GGUF\x03\x00\x00\x00" + bytes(15)])
def test_a_file_too_small_for_a_header(tmp_path: Path, data: bytes) -> None:
    message = rejected(put(tmp_path, data))
    assert message == f"m.gguf is too small to be a GGUF model file ({len(data)} bytes)."


@pytest.mark.parametrize(
    ("start", "explanation"),
    [
        (b"PK\x03\x04" + bytes(40), "it starts with 'PK\\x03\\x04', not 'GGUF'"),
        (b"gguf" + bytes(40), "it starts with 'gguf', not 'GGUF'"),
        (
            b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n",
            "it is a Git LFS pointer, not the model itself",
        ),
        (b"  <!DOCTYPE html><html><body>Not found</body></html>", "it is a web page, not"),
        (b"tjgg\x03\x00\x00\x00" + bytes(40), "an old GGML model format"),
    ],
)
def test_wrong_magic(tmp_path: Path, start: bytes, explanation: str) -> None:
    message = rejected(put(tmp_path, start))
    assert message.startswith("m.gguf is not a GGUF model file (")
    assert explanation in message


def test_wrong_magic_reads_as_the_lead_example(tmp_path: Path) -> None:
    message = rejected(put(tmp_path, b"PK\x03\x04" + bytes(100), "foo.gguf"))
    assert (
        message == "foo.gguf is not a GGUF model file (it starts with 'PK\\x03\\x04', not 'GGUF')."
    )


def test_random_bytes(tmp_path: Path) -> None:
    noise = random.Random(20240607).randbytes(4096)
    assert "is not a GGUF model file" in rejected(put(tmp_path, noise))


# -- the header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (1, "uses GGUF version 1, which llama.cpp no longer loads"),
        (0, "uses GGUF version 0; Driftless reads versions 2 and 3 only."),
        (4, "uses GGUF version 4; Driftless reads versions 2 and 3 only."),
        (99, "uses GGUF version 99; Driftless reads versions 2 and 3 only."),
        (0x03000000, "is a big-endian GGUF file"),
    ],
)
def test_unsupported_versions(tmp_path: Path, version: int, expected: str) -> None:
    built = build_gguf(typical_metadata(), typical_tensors(), version=version)
    assert expected in rejected(built.write(tmp_path / "m.gguf"))


@pytest.mark.parametrize("count", [2**63, 2**64 - 1, 1000])
def test_absurd_tensor_counts(tmp_path: Path, count: int) -> None:
    built = build_gguf(typical_metadata(), typical_tensors(), n_tensors=count)
    assert f"claims {count:,} tensors" in rejected(built.write(tmp_path / "m.gguf"))


@pytest.mark.parametrize("count", [2**63, 2**64 - 1, 1000])
def test_absurd_metadata_counts(tmp_path: Path, count: int) -> None:
    built = build_gguf(typical_metadata(), typical_tensors(), n_kv=count)
    assert f"claims {count:,} metadata entries" in rejected(built.write(tmp_path / "m.gguf"))


def test_counts_are_capped_even_when_the_file_is_big_enough(tmp_path: Path) -> None:
    head = encode_header(n_tensors=0, n_kv=gguf.MAX_KV_PAIRS + 1)
    message = rejected(sparse(tmp_path, head, 16 << 20))
    assert f"claims {gguf.MAX_KV_PAIRS + 1:,} metadata entries" in message
    head = encode_header(n_tensors=gguf.MAX_TENSORS + 1, n_kv=0)
    assert "tensors, more than" in rejected(sparse(tmp_path, head, 64 << 20))


# -- metadata --------------------------------------------------------------------------------


def test_a_key_longer_than_the_file(tmp_path: Path) -> None:
    data = encode_header(0, 1) + struct.pack("<Q", 2**40) + b"key" + bytes(20)
    message = rejected(put(tmp_path, data))
    assert message == (
        "m.gguf is not a valid GGUF model file: metadata key #1 claims 1.1 TB of text, "
        "but the file has only 23 bytes left."
    )


def test_a_string_value_longer_than_the_file(tmp_path: Path) -> None:
    data = build_gguf(extra_kvs=[raw_kv("k", VT.STRING, struct.pack("<Q", 2**63) + b"x")]).data
    assert "the value of 'k' claims 9.2 EB of text" in rejected(put(tmp_path, data))


def test_a_string_value_over_the_cap(tmp_path: Path) -> None:
    length = gguf.MAX_STRING_BYTES + 1
    head = build_gguf(extra_kvs=[raw_kv("k", VT.STRING, struct.pack("<Q", length))]).data
    message = rejected(sparse(tmp_path, head, length + 1024))
    assert (
        "the value of 'k' is 16,777,217 bytes long, more than the 16,777,216 bytes "
        "Driftless accepts" in message
    )


def test_a_key_over_the_cap(tmp_path: Path) -> None:
    key = b"k" * (gguf.MAX_KEY_BYTES + 1)
    data = encode_header(0, 1) + encode_string(key) + struct.pack("<IB", VT.UINT8, 1)
    assert "metadata key #1 is 65,537 bytes long, more than the 65,536 bytes" in rejected(
        put(tmp_path, data)
    )


def _long_string_array(bad_index: int, bad_length: int) -> bytes:
    """A 70-string array (walked, not kept) whose item ``bad_index`` lies about its length."""
    items = [encode_string(f"t{i}") for i in range(70)]
    items[bad_index] = struct.pack("<Q", bad_length) + b"t"
    payload = struct.pack("<IQ", VT.STRING, 70) + b"".join(items)
    return build_gguf(extra_kvs=[raw_kv("tokens", VT.ARRAY, payload)]).data


def test_a_long_string_array_item_longer_than_the_file(tmp_path: Path) -> None:
    message = rejected(put(tmp_path, _long_string_array(3, 2**40)))
    assert "item 3 of 'tokens' claims 1.1 TB of text, but the file has only" in message


def test_a_long_string_array_item_over_the_cap(tmp_path: Path) -> None:
    head = _long_string_array(5, gguf.MAX_STRING_BYTES + 1)
    message = rejected(sparse(tmp_path, head, 20 << 20))
    assert "item 5 of 'tokens' is 16,777,217 bytes long, more than the 16,777,216" in message


def test_a_hostile_key_is_shortened_and_escaped_in_messages(tmp_path: Path) -> None:
    long_key = "k" * 5000
    message = rejected(write_gguf(tmp_path / "m.gguf", [(long_key, 1), (long_key, 2)]))
    assert "appears twice" in message
    assert len(message) < 200
    escaping = "clear\x1b[2J\u202e"  # a terminal escape and a right-to-left override
    message = rejected(write_gguf(tmp_path / "m.gguf", [(escaping, 1), (escaping, 2)]))
    assert "'clear\\x1b[2J\\u202e' appears twice" in message


@pytest.mark.parametrize(
    ("item_type", "count"), [(VT.UINT32, 2**62), (VT.STRING, 2**61), (VT.UINT8, 10**6)]
)
def test_an_array_count_the_file_cannot_hold(tmp_path: Path, item_type: int, count: int) -> None:
    payload = struct.pack("<IQ", item_type, count) + bytes(64)
    data = build_gguf(extra_kvs=[raw_kv("arr", VT.ARRAY, payload)]).data
    message = rejected(put(tmp_path, data))
    assert f"the array 'arr' claims {count:,} items, more than the rest of the file" in message


@pytest.mark.parametrize("value_type", [13, 255, 2**32 - 1])
def test_an_unknown_value_type(tmp_path: Path, value_type: int) -> None:
    data = build_gguf(extra_kvs=[raw_kv("odd", value_type, bytes(16))]).data
    assert f"the value of 'odd' has unknown type {value_type}" in rejected(put(tmp_path, data))


def test_an_unknown_array_item_type(tmp_path: Path) -> None:
    payload = struct.pack("<IQ", 13, 1) + bytes(16)
    data = build_gguf(extra_kvs=[raw_kv("arr", VT.ARRAY, payload)]).data
    assert "the array 'arr' holds items of unknown type 13" in rejected(put(tmp_path, data))


def test_nested_arrays(tmp_path: Path) -> None:
    nested = Typed(VT.ARRAY, [[1, 2], [3]], item_type=VT.ARRAY)
    path = write_gguf(tmp_path / "m.gguf", {"deep": nested})
    assert "the array 'deep' holds arrays, which GGUF forbids" in rejected(path)


def test_duplicate_keys(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", [("general.name", "a"), ("general.name", "b")])
    assert "the metadata key 'general.name' appears twice" in rejected(path)


def test_an_empty_key(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", [("", 1)])
    assert "metadata key #1 is empty" in rejected(path)


def test_a_key_that_is_not_utf8(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", [("ok", 1), (b"bad\xff", 1)])
    assert "metadata key #2 is not valid UTF-8 text" in rejected(path)


@pytest.mark.parametrize("alignment", [0, 3, 48, 2**31 + 1])
def test_an_alignment_that_is_not_a_power_of_two(tmp_path: Path, alignment: int) -> None:
    path = write_gguf(tmp_path / "m.gguf", {"general.alignment": u32(alignment)})
    assert f"its alignment {alignment} is not a power of two" in rejected(path)


def test_an_alignment_of_the_wrong_type(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", {"general.alignment": u64(32)})
    assert "general.alignment is not a uint32" in rejected(path)


def test_too_many_strings_in_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf, "MAX_ARRAY_STRINGS", 99)
    path = write_gguf(tmp_path / "m.gguf", typical_metadata(), typical_tensors())  # 100 tokens
    assert "holds more than 99 strings in arrays" in rejected(path)


def test_metadata_too_big_to_keep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf, "MAX_KEPT_METADATA_BYTES", 100)
    path = write_gguf(tmp_path / "m.gguf", {"a": "x" * 60, "b": "y" * 60})
    assert "its metadata is larger than the 100 bytes Driftless accepts" in rejected(path)
    # Small arrays are kept too, and each kept item costs more than its bytes.
    path = write_gguf(tmp_path / "m.gguf", {"a": array(VT.UINT8, [1, 2])})
    assert "its metadata is larger than" in rejected(path)


# -- tensor infos ----------------------------------------------------------------------------


def test_duplicate_tensor_names(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", {}, [Tensor("w", (8,)), Tensor("w", (8,))])
    assert "two tensors are named 'w'" in rejected(path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "tensor #1 has an empty name"),
        (b"w\xff", "the name of tensor #1 is not valid UTF-8 text"),
        ("x" * 64, "the name of tensor #1 is 64 bytes long, more than the 63 bytes"),
    ],
)
def test_bad_tensor_names(tmp_path: Path, name: str | bytes, expected: str) -> None:
    path = write_gguf(tmp_path / "m.gguf", {}, [Tensor(name, (8,))])
    assert expected in rejected(path)


def test_a_63_byte_tensor_name_is_fine(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", {}, [Tensor("x" * 63, (8,))])
    assert read_gguf(path).tensors[0].name == "x" * 63


@pytest.mark.parametrize("n_dims", [5, 2**32 - 1])
def test_too_many_dimensions(tmp_path: Path, n_dims: int) -> None:
    tensor = Tensor("w", (1, 1, 1, 1, 1), n_dims=n_dims, data=bytes(4))
    path = write_gguf(tmp_path / "m.gguf", {}, [tensor])
    assert f"tensor 'w' has {n_dims:,} dimensions; at most 4 are allowed" in rejected(path)


def test_a_zero_dimension(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", {}, [Tensor("w", (8, 0), data=b"")])
    assert "tensor 'w' has a dimension of size 0" in rejected(path)


@pytest.mark.parametrize(
    "shape", [(2**32, 2**32), (2**63 - 1,), (2**63,), (2**64 - 1, 2), (2**16,) * 4]
)
def test_overflowing_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = write_gguf(tmp_path / "m.gguf", {}, [Tensor("w", shape, data=b"")])
    assert "tensor 'w' has an impossibly large shape" in rejected(path)


@pytest.mark.parametrize("type_id", [4, 5, 31, 36, 42, 2**32 - 1])
def test_an_unknown_ggml_type(tmp_path: Path, type_id: int) -> None:
    path = write_gguf(tmp_path / "m.gguf", {}, [Tensor("w", (32,), type_id, data=bytes(64))])
    assert f"tensor 'w' has unknown ggml type {type_id}" in rejected(path)


def test_rows_that_do_not_fill_a_block(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", {}, [Tensor("w", (33, 2), "Q8_0", data=bytes(68))])
    message = rejected(path)
    assert "tensor 'w' has rows of 33 elements, not a multiple of Q8_0's block of 32" in message


def test_a_misaligned_tensor_offset(tmp_path: Path) -> None:
    tensors = [Tensor("a", (8,)), Tensor("b", (8,), offset=40)]
    path = write_gguf(tmp_path / "m.gguf", {}, tensors)
    assert "tensor 'b' starts at offset 40, not a multiple of 32" in rejected(path)


def test_overlapping_tensors(tmp_path: Path) -> None:
    tensors = [Tensor("b", (8,), offset=64), Tensor("a", (64,), offset=0)]
    path = write_gguf(tmp_path / "m.gguf", {}, tensors)
    assert "the data of tensors 'a' and 'b' overlap" in rejected(path)


def test_tensor_data_beyond_the_end(tmp_path: Path) -> None:
    tensors = [Tensor("a", (8,)), Tensor("far", (8,), offset=2**40, data=b"")]
    built = build_gguf({}, tensors)
    message = rejected(built.write(tmp_path / "m.gguf"))
    assert message == f"m.gguf is truncated: {len(built.data)} bytes of an expected 1.1 TB."


# -- truncation ------------------------------------------------------------------------------


def test_truncation_anywhere_is_refused(tmp_path: Path) -> None:
    built = build_gguf(typical_metadata(), typical_tensors())
    path = built.write(tmp_path / "cut.gguf")
    # Every byte of the header, a prime stride through the data; shortening one file.
    cuts = [*range(built.header_end), *range(built.header_end, len(built.data), 97)]
    for cut in reversed(cuts):
        os.truncate(path, cut)
        message = rejected(path)
        if cut >= built.header_end:
            assert "cut.gguf is truncated: " in message, cut
        elif cut >= 24:
            assert "cut.gguf is truncated" in message or "is not a valid GGUF" in message, cut


def test_truncation_inside_the_header_says_so(tmp_path: Path) -> None:
    built = build_gguf(typical_metadata(), typical_tensors())
    # Inside the second tensor's n_dims, after its 8-byte name length and 18-byte name.
    cut = built.tensor_info_offsets[1] + 8 + len("output_norm.weight") + 2
    message = rejected(put(tmp_path, built.data[:cut]))
    assert message == (
        f"m.gguf is truncated: it ends at {human_size(cut)}, in the middle of its header."
    )


def test_truncation_in_the_data_names_both_sizes(tmp_path: Path) -> None:
    built = build_gguf({}, [Tensor("big", (1000, 600))])  # 2.4 MB of F32
    assert rejected(put(tmp_path, built.data[:1_200_000])) == (
        "m.gguf is truncated: 1.2 MB of an expected 2.4 MB."
    )
    expected = built.data_offset + 2_400_000
    message = rejected(put(tmp_path, built.data[: expected - 10]))
    assert (
        message
        == f"m.gguf is truncated: {expected - 10:,} bytes of an expected {expected:,} bytes."
    )


def test_padding_after_the_last_tensor_is_optional(tmp_path: Path) -> None:
    built = build_gguf({}, [Tensor("w", (3,))], pad_end=False)
    info = read_gguf(built.write(tmp_path / "m.gguf"))
    assert info.file_size == info.expected_size == built.data_offset + 12


# -- whatever a damaged file looks like, the answer is InvalidModelFile ------------------------

FUZZ_SEED = build_gguf(
    {
        "general.architecture": "llama",
        "llama.context_length": u32(128),
        "v.u64": u64(7),
        "v.f64": f64(1.0),
        "v.small": [1, 2],
        "v.texts": ["a", "bc"],
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(70)],
        "v.scores": array(VT.FLOAT32, [0.0] * 70),
        "tokenizer.chat_template": "{{ x }}",
    },
    [Tensor("a", (32, 2), "Q8_0"), Tensor("b", (8,)), Tensor("c", (4, 2), "F16")],
).data

INTERESTING = [0, 1, 4, 5, 8, 13, 63, 64, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]
_position = st.integers(min_value=0, max_value=len(FUZZ_SEED))
_edit = st.one_of(
    st.tuples(st.just("byte"), _position, st.integers(0, 255)),
    st.tuples(st.just("u32"), _position, st.sampled_from(INTERESTING[:10])),
    st.tuples(st.just("u64"), _position, st.sampled_from(INTERESTING)),
    st.tuples(st.just("insert"), _position, st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("delete"), _position, st.integers(1, 12)),
    st.tuples(st.just("cut"), _position, st.just(0)),
)


def _apply(data: bytes, edit: tuple[str, int, object]) -> bytes:
    kind, at, arg = edit
    at = min(at, len(data))
    if kind == "byte":
        assert isinstance(arg, int)
        return data[:at] + bytes([arg]) + data[at + 1 :]
    if kind in ("u32", "u64"):
        assert isinstance(arg, int)
        raw = struct.pack("<I", arg) if kind == "u32" else struct.pack("<Q", arg)
        return data[:at] + raw + data[at + len(raw) :]
    if kind == "insert":
        assert isinstance(arg, bytes)
        return data[:at] + arg + data[at:]
    if kind == "delete":
        assert isinstance(arg, int)
        return data[:at] + data[at + arg :]
    return data[:at]


def _read_or_refuse(path: Path) -> GGUFInfo | None:
    try:
        info = read_gguf(path)
    except InvalidModelFile as error:
        assert path.name in str(error)
        return None
    # Whatever is accepted must be self-consistent.
    assert info.expected_size <= info.file_size
    assert all(t.offset % info.alignment == 0 and t.nbytes > 0 for t in info.tensors)
    assert len({t.name for t in info.tensors}) == len(info.tensors)
    return info


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzzed.gguf"


# The autouse data-folder fixture is function-scoped but untouched here; the database is
# off so runs leave no .hypothesis folder in the work tree.
FUZZ = settings(
    max_examples=400,
    deadline=2000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(edits=st.lists(_edit, min_size=1, max_size=6))
def test_mutations_only_ever_raise_invalid_model_file(
    scratch: Path, edits: list[tuple[str, int, object]]
) -> None:
    data = FUZZ_SEED
    for edit in edits:
        data = _apply(data, edit)
    overwrite(scratch, data)
    _read_or_refuse(scratch)


@FUZZ
@given(tail=st.binary(max_size=600))
def test_random_bytes_after_a_valid_start(scratch: Path, tail: bytes) -> None:
    overwrite(scratch, b"GGUF\x03\x00\x00\x00" + tail)
    _read_or_refuse(scratch)


def test_the_fuzz_seed_itself_is_valid(scratch: Path) -> None:
    overwrite(scratch, FUZZ_SEED)
    info = _read_or_refuse(scratch)
    assert info is not None and len(info.tensors) == 3


# -- the real starter model ------------------------------------------------------------------


def test_the_starter_model(starter_file: Path) -> None:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        info = read_gguf(starter_file)
        timings.append(time.perf_counter() - started)
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.quantization == "Q4_1"
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template
    assert info.chat_template_sha256 is not None
    assert info.license == "apache-2.0"
    assert info.file_size == 98_362_432
    assert info.expected_size == info.file_size
    assert info.metadata["tokenizer.ggml.tokens"] == ArraySummary("string", 49152)
    assert len(info.tensors) == 272
    assert info.parameter_count == 134_515_008
    # 49k-token vocabulary and 49k merges walked: well under a second (about 70 ms).
    assert min(timings) < 1.0, timings


def test_a_truncated_starter_model_names_both_sizes(tmp_path: Path, starter_file: Path) -> None:
    with starter_file.open("rb") as source:
        head = source.read(12_000_000)
    copy = put(tmp_path, head, starter_file.name)
    assert rejected(copy) == (
        "SmolLM2-135M-Instruct.Q4_1.gguf is truncated: 12 MB of an expected 98 MB."
    )
