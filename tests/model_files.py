"""Small valid model files for store, lockfile and window tests."""

from __future__ import annotations

import random
from pathlib import Path

from tests.gguf_factory import Tensor, typical_metadata, u32, write_gguf


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
