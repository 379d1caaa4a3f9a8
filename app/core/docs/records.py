"""What a collection records and what a search answers: plain, immutable values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import PurePath
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from app.core.cancel import CancelToken
from app.core.docs.passages import Chunking, Passage
from app.core.errors import DriftlessError


def search_title(title: str, path: str) -> str:
    """A file's title as indexed and embedded: its own title and its file name, which
    is often the best summary there is ("refund-policy")."""
    stem = PurePath(path).stem
    return stem if title in ("", stem) else f"{title} ({stem})"


class DocsError(DriftlessError):
    """A document collection could not be made, changed or searched; says why."""


class EmbedderMismatch(DocsError):
    """A collection's vectors came from another embedder than the one offered."""


@dataclass(frozen=True)
class EmbedderInfo:
    """The pinned embedder of a collection: which exact weights, pooled how, over how
    many tokens. Vectors are only ever compared with vectors of the same embedder."""

    model_id: str
    lock_id: str
    sha256: str
    pooling: str
    n_ctx: int
    dims: int

    def same_vectors(self, other: EmbedderInfo) -> bool:
        """Whether ``other`` makes the same vectors (the id is only a name for them)."""
        return (self.sha256, self.pooling, self.n_ctx, self.dims) == (
            other.sha256,
            other.pooling,
            other.n_ctx,
            other.dims,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbedderInfo:
        return cls(
            model_id=str(data["model_id"]),
            lock_id=str(data["lock_id"]),
            sha256=str(data["sha256"]),
            pooling=str(data["pooling"]),
            n_ctx=int(data["n_ctx"]),
            dims=int(data["dims"]),
        )


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    name: str
    created_at: str
    updated_at: str
    embedder: EmbedderInfo
    chunking: Chunking
    roots: tuple[str, ...]
    files: int
    passages: int
    skipped: int
    bytes: int
    version: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["roots"] = list(self.roots)
        del data["id"]
        return data


@dataclass(frozen=True)
class Hit(Passage):
    """One passage a search found: the passage, its file, and how it ranked."""

    passage_id: int
    source: str
    title: str
    score: float
    """The reciprocal-rank-fusion score (higher is better)."""
    fts_rank: int | None = None
    vector_rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "page": self.page,
            "line": self.line,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 6),
            "heading": self.heading,
            "text": self.text,
        }

    @property
    def location(self) -> str:
        """Where in its file the passage starts: "page 3" (PDF) or "line 12"."""
        return f"page {self.page}" if self.page is not None else f"line {self.line}"

    @property
    def where(self) -> str:
        """The file's name and the location: "guide.pdf, page 3", "notes.md, line 12"."""
        return f"{PurePath(self.source).name}, {self.location}"


Vectors = npt.NDArray[np.float32]


class TextEmbedder(Protocol):
    """What indexing and search need of an embedder (:class:`~app.core.docs.embedding.
    ModelEmbedder`; tests use a fake with the same surface)."""

    info: EmbedderInfo

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> Vectors:
        """One unit-length float32 row per text."""
        ...

    def close(self) -> None: ...
