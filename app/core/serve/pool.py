"""Which models the server holds: one :class:`ModelOwner` per loaded model, a few at most.

A request names an installed model (or none: the server's default). The first request
for a model starts its owner thread, which loads it; when ``max_loaded`` models are held
already, an idle one is unloaded to make room, and if none is idle the request is
refused (503) rather than running two loads' worth of memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic

from app.core.errors import ModelNotFound
from app.core.models.store import InstalledModel, ModelStore
from app.core.serve.errors import ApiError
from app.core.serve.owner import ModelOwner, U


class ModelPool(Generic[U]):
    """The owners of one kind of model user (chat engines, or classification holders).

    A request's model is resolved once, here; its owner loads it by that record. The
    weights under every pool are the model host's: a chat pool and a classify pool on
    the same file share one load.
    """

    def __init__(
        self,
        store: ModelStore,
        engine_factory: Callable[[], U],
        *,
        default_model: str | None = None,
        max_loaded: int = 1,
        max_waiting: int = 8,
        n_ctx: int | None = None,
    ) -> None:
        self.store = store
        self._engine_factory = engine_factory
        self.default_model = default_model
        self.max_loaded = max_loaded
        self.max_waiting = max_waiting
        self.n_ctx = n_ctx
        self._owners: dict[str, ModelOwner[U]] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: str | None) -> InstalledModel:
        """The installed model a request names; the default (or active) one for none."""
        if ref in (None, "", "default"):
            ref = self.default_model
            if ref is None:
                active = self.store.active()
                if active is None:
                    raise ModelNotFound(
                        "No model was named and none is active. Name one in 'model' "
                        "(see GET /v1/models), or start the server with --model ID."
                    )
                return active
        return self.store.get(ref)

    def owner(self, model: InstalledModel) -> ModelOwner[U]:
        with self._lock:
            owner = self._owners.get(model.id)
            if owner is not None:
                return owner
            if len(self._owners) >= self.max_loaded:
                idle = next(
                    (o for o in self._owners.values() if not o.busy and not o.waiting), None
                )
                if idle is None:
                    held = ", ".join(self._owners)
                    raise ApiError(
                        503,
                        f"This server holds at most {self.max_loaded} model(s) at once and "
                        f"{held} is busy. Try again when it is idle, or ask for {held}.",
                        type="server_error",
                        param="model",
                        code="model_busy",
                        headers={"Retry-After": "5"},
                    )
                del self._owners[idle.model_id]
                idle.stop()
            owner = ModelOwner(
                model,
                self._engine_factory,
                max_waiting=self.max_waiting,
                n_ctx=self.n_ctx,
            )
            self._owners[model.id] = owner
            return owner

    def loaded_ids(self) -> set[str]:
        with self._lock:
            return set(self._owners)

    def close(self) -> None:
        with self._lock:
            owners = list(self._owners.values())
            self._owners.clear()
        for owner in owners:
            owner.stop()
