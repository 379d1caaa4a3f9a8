"""The tables a GGUF header is decoded with: value types, ggml tensor types, file types.

They follow ggml's ``gguf.cpp``, ``ggml.h`` and llama.cpp's ``llama_ftype``;
:mod:`app.core.models.gguf` reads headers with them and re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "FILE_TYPE_GUESSED",
    "FILE_TYPE_NAMES",
    "GGML_TYPES",
    "VALUE_ARRAY",
    "VALUE_BOOL",
    "VALUE_STRING",
    "VALUE_TYPES",
    "GGMLType",
]

# GGUF value types: id -> (name, struct format, size). STRING and ARRAY have no format.
VALUE_ARRAY = 9
VALUE_STRING = 8
VALUE_BOOL = 7
VALUE_TYPES: Mapping[int, tuple[str, str, int]] = MappingProxyType(
    {
        0: ("uint8", "B", 1),
        1: ("int8", "b", 1),
        2: ("uint16", "H", 2),
        3: ("int16", "h", 2),
        4: ("uint32", "I", 4),
        5: ("int32", "i", 4),
        6: ("float32", "f", 4),
        7: ("bool", "B", 1),  # read as a byte: any non-zero byte is True, as in gguf.cpp
        8: ("string", "", 8),  # 8 = the length prefix, the least one can take
        10: ("uint64", "Q", 8),
        11: ("int64", "q", 8),
        12: ("float64", "d", 8),
    }
)


@dataclass(frozen=True)
class GGMLType:
    """A ggml tensor type: ``block_size`` elements are stored in ``type_size`` bytes."""

    id: int
    name: str
    block_size: int
    type_size: int


_QK_K = 256
GGML_TYPES: Mapping[int, GGMLType] = MappingProxyType(
    {
        t.id: t
        for t in (
            GGMLType(0, "F32", 1, 4),
            GGMLType(1, "F16", 1, 2),
            GGMLType(2, "Q4_0", 32, 2 + 16),
            GGMLType(3, "Q4_1", 32, 2 + 2 + 16),
            # 4 and 5 (Q4_2, Q4_3) were removed from ggml long ago.
            GGMLType(6, "Q5_0", 32, 2 + 4 + 16),
            GGMLType(7, "Q5_1", 32, 2 + 2 + 4 + 16),
            GGMLType(8, "Q8_0", 32, 2 + 32),
            GGMLType(9, "Q8_1", 32, 4 + 4 + 32),
            GGMLType(10, "Q2_K", _QK_K, 2 + 2 + _QK_K // 16 + _QK_K // 4),
            GGMLType(11, "Q3_K", _QK_K, 2 + _QK_K // 4 + _QK_K // 8 + 12),
            GGMLType(12, "Q4_K", _QK_K, 2 + 2 + _QK_K // 2 + 12),
            GGMLType(13, "Q5_K", _QK_K, 2 + 2 + _QK_K // 2 + _QK_K // 8 + 12),
            GGMLType(14, "Q6_K", _QK_K, 2 + _QK_K // 2 + _QK_K // 4 + _QK_K // 16),
            GGMLType(15, "Q8_K", _QK_K, 4 + _QK_K + _QK_K // 8),
            GGMLType(16, "IQ2_XXS", _QK_K, 2 + _QK_K // 4),
            GGMLType(17, "IQ2_XS", _QK_K, 2 + _QK_K // 4 + _QK_K // 32),
            GGMLType(18, "IQ3_XXS", _QK_K, 2 + _QK_K // 4 + _QK_K // 8),
            GGMLType(19, "IQ1_S", _QK_K, 2 + _QK_K // 8 + _QK_K // 16),
            GGMLType(20, "IQ4_NL", 32, 2 + 16),
            GGMLType(21, "IQ3_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 8 + _QK_K // 32 + 4),
            GGMLType(22, "IQ2_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 16),
            GGMLType(23, "IQ4_XS", _QK_K, 2 + 2 + _QK_K // 2 + _QK_K // 64),
            GGMLType(24, "I8", 1, 1),
            GGMLType(25, "I16", 1, 2),
            GGMLType(26, "I32", 1, 4),
            GGMLType(27, "I64", 1, 8),
            GGMLType(28, "F64", 1, 8),
            GGMLType(29, "IQ1_M", _QK_K, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),
            GGMLType(30, "BF16", 1, 2),
            # 31-33 and 36-38 were runtime-repacked layouts, removed from files.
            GGMLType(34, "TQ1_0", _QK_K, 2 + 4 * 13),
            GGMLType(35, "TQ2_0", _QK_K, 2 + 64),
            GGMLType(39, "MXFP4", 32, 1 + 16),
            GGMLType(40, "NVFP4", 64, 4 + 32),
            GGMLType(41, "Q1_0", 128, 2 + 16),
        )
    }
)

# llama_ftype values stored in general.file_type, by the names people know them by.
# fmt: off
FILE_TYPE_NAMES: Mapping[int, str] = MappingProxyType({
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_SOME_F16", 7: "Q8_0", 8: "Q5_0",
    9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
    15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS",
    21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S",
    27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
})
# fmt: on
FILE_TYPE_GUESSED = 1024  # LLAMA_FTYPE_GUESSED, or-ed in when llama.cpp inferred it
