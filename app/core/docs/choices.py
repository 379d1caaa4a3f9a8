"""Which installed models a collection can be embedded with, best advice first.

Any installed GGUF model can embed (a chat model through one of its early layers, see
:mod:`app.core.docs.embedding`), but a real sentence encoder finds passages better:
those come first, in the order the catalog recommends them, then the other models by
name. Telling them apart needs no file read: an installed model is an embedding model
when it is one of the catalog's embedders (its repository and file), or when its
architecture is an encoder's (a BGE or MiniLM GGUF made elsewhere is ``bert``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.docs.records import EmbedderInfo
from app.core.models.catalog import CatalogEntry, recommended_embedders
from app.core.models.embedder import is_encoder_architecture
from app.core.models.store import InstalledModel


@dataclass(frozen=True)
class EmbedderChoice:
    model: InstalledModel
    embedding_model: bool
    """A sentence encoder (recommended), not a chat model pooled for vectors."""
    current: bool
    """The collection's embedder now (the same weights)."""


def embedder_choices(
    models: Sequence[InstalledModel],
    catalog: Sequence[CatalogEntry],
    current: EmbedderInfo | None = None,
) -> list[EmbedderChoice]:
    """Every installed model as a choice of embedder: embedding models first (in the
    catalog's order of advice), then the rest by id."""
    advice = [(e.repo, e.filename) for e in recommended_embedders(list(catalog))]

    def rank(model: InstalledModel) -> int:
        key = (model.repo, model.filename)
        return advice.index(key) if key in advice else len(advice)

    choices = [
        EmbedderChoice(
            model,
            embedding_model=rank(model) < len(advice)
            or is_encoder_architecture(model.architecture),
            current=current is not None and model.sha256 == current.sha256,
        )
        for model in models
    ]
    return sorted(choices, key=lambda c: (not c.embedding_model, rank(c.model), c.model.id))
