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


class CollectionNotFound(DocsError):
    """No collection has the name asked for."""


SCALINGS = ("unit", "standardized")


@dataclass(frozen=True)
class EmbedderInfo:
    """The pinned embedder of a collection: which exact weights, evaluated how, pooled
    how, over how many tokens. Vectors are only ever compared with vectors of the same
    embedder."""

    model_id: str
    lock_id: str
    sha256: str
    pooling: str
    n_ctx: int
    dims: int
    layer: int | None = None
    """The layer whose outputs are pooled (0 is the first); None: the last, normed."""
    weights: str = "file"
    """The weights evaluated: ``file`` (the model file as it is) or ``f16`` (its 16-bit
    copy, :mod:`app.core.models.unpacked`); the two give slightly different vectors."""
    scaling: str = "unit"
    """``unit``: stored at length 1, compared by dot product. ``standardized``: stored as
    pooled; each coordinate is standardised over the collection before comparing."""
    echo: bool = False
    """Whether each text was said twice and its second copy pooled (a chat model pooled
    at a layer only; :mod:`app.core.models.embedder`). A collection recorded without it
    (made before it existed) was embedded once."""

    def same_vectors(self, other: EmbedderInfo) -> bool:
        """Whether ``other`` makes the same vectors (the id is only a name for them)."""
        return self.settings() == other.settings()

    def settings(self) -> tuple[object, ...]:
        return (
            self.sha256,
            self.pooling,
            self.n_ctx,
            self.dims,
            self.layer,
            self.weights,
            self.scaling,
            self.echo,
        )

    def describe(self) -> str:
        """One phrase: "SmolLM2-135M (sha256 1a2b3c4d5e6f, mean of layer 6, F16, 512 tokens)"."""
        pooled = f"{self.pooling} of layer {self.layer}" if self.layer is not None else self.pooling
        form = ", F16" if self.weights == "f16" else ""
        echo = ", echo" if self.echo else ""
        return (
            f"{self.model_id} (sha256 {self.sha256[:12]}, {pooled}{form}{echo}, "
            f"{self.n_ctx} tokens)"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbedderInfo:
        layer = data.get("layer")
        return cls(
            model_id=str(data["model_id"]),
            lock_id=str(data["lock_id"]),
            sha256=str(data["sha256"]),
            pooling=str(data["pooling"]),
            n_ctx=int(data["n_ctx"]),
            dims=int(data["dims"]),
            layer=None if layer is None else int(layer),
            weights=str(data.get("weights", "file")),
            scaling=str(data.get("scaling", "unit")),
            echo=bool(data.get("echo", False)),
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
    collection: str = ""
    """The collection searched (set when several were)."""
    similarity: float | None = None
    """The cosine with the query (in the collection's comparable space), when the
    vectors ranked the passage."""

    def to_json(self) -> dict[str, Any]:
        return {
            **({"collection": self.collection} if self.collection else {}),
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

    @property
    def info(self) -> EmbedderInfo:
        """What the embedder records with a collection (an attribute will do)."""
        ...

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> Vectors:
        """One float32 row per text (unit length when ``info.scaling`` is "unit")."""
        ...

    def close(self) -> None: ...
