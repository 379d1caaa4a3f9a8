"""A fake embedder for tests that need vectors but not a model: hashed word counts."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from app.core.cancel import CancelToken
from app.core.docs.records import EmbedderInfo

DIMS = 64


class HashEmbedder:
    """Each word adds 1 to a hashed coordinate; ``synonyms`` map words to one another so
    a test can make a passage that only the vectors find."""

    def __init__(self, sha256: str = "a" * 64, synonyms: dict[str, str] | None = None) -> None:
        self.info = EmbedderInfo(
            model_id=f"fake-{sha256[:4]}",
            lock_id=f"sha256:{sha256}/fake.gguf",
            sha256=sha256,
            pooling="mean",
            n_ctx=512,
            dims=DIMS,
        )
        self.synonyms = synonyms or {}
        self.texts: list[str] = []
        self.closed = False

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> np.ndarray:
        rows = np.zeros((len(texts), DIMS), dtype=np.float32)
        for i, text in enumerate(texts):
            self.texts.append(text)
            for word in re.findall(r"\w+", text.lower()):
                word = self.synonyms.get(word, word)
                rows[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMS] += 1.0
            norm = np.linalg.norm(rows[i])
            if norm:
                rows[i] /= norm
        return rows

    def close(self) -> None:
        self.closed = True
