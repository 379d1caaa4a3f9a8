"""Updates without drift: see that upstream moved, replace nothing unless asked.

``check_updates`` compares each installed Hub model's tracked revision with the
commit the Hub has now and reports what changed, touching nothing. ``update``
installs the new version side by side (and, when asked, makes it active); the old
version stays until removed. Checking the new version's behaviour before switching is
the caller's part (the CLI and the window run the model's check sets, app/core/drift).
A pinned model is never updated.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from app.core.cancel import CancelToken
from app.core.errors import DriftlessError, ModelNotFound, ModelPinned
from app.core.hub.client import HubClient
from app.core.hub.download import Downloader, ProgressFn
from app.core.models.lockfile import Fetcher, LockEntry
from app.core.models.store import InstalledModel, ModelStore, unpin_hint


class UpdateState(Enum):
    UP_TO_DATE = "up to date"
    FILE_UNCHANGED = "new commit, file unchanged"
    FILE_CHANGED = "new commit, file changed"
    FILE_REMOVED = "new commit, file removed upstream"
    NOT_TRACKED = "not from the Hub"
    ERROR = "could not check"


@dataclass(frozen=True)
class UpdateStatus:
    model: InstalledModel
    state: UpdateState
    latest_commit: str | None
    message: str

    @property
    def update_available(self) -> bool:
        return self.state is UpdateState.FILE_CHANGED

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.model.id,
            "repo": self.model.repo,
            "installed_commit": self.model.commit,
            "latest_commit": self.latest_commit,
            "state": self.state.value,
            "update_available": self.update_available,
            "pinned": self.model.pinned,
            "message": self.message,
        }


def check_model(client: HubClient, model: InstalledModel) -> UpdateStatus:
    if model.repo is None or model.commit is None:
        return UpdateStatus(model, UpdateState.NOT_TRACKED, None, "a local file: nothing to check")
    revision = model.revision or "main"
    try:
        latest = client.resolve(model.repo, revision)
        if latest == model.commit:
            return UpdateStatus(model, UpdateState.UP_TO_DATE, latest, f"{revision} is unchanged")
        try:
            remote = client.file_at(model.repo, model.filename, latest)
        except ModelNotFound:
            return UpdateStatus(
                model,
                UpdateState.FILE_REMOVED,
                latest,
                f"{revision} moved to {latest[:7]}, which no longer has {model.filename}",
            )
    except DriftlessError as exc:
        return UpdateStatus(model, UpdateState.ERROR, None, str(exc))
    if remote.sha256 is None:
        # Never report a change that could not be seen.
        return UpdateStatus(
            model,
            UpdateState.ERROR,
            None,
            f"{revision} moved to {latest[:7]}, but the Hub announces no sha256 for "
            f"{model.filename} there, so whether it changed cannot be told",
        )
    if remote.sha256 == model.sha256:
        return UpdateStatus(
            model,
            UpdateState.FILE_UNCHANGED,
            latest,
            f"{revision} moved to {latest[:7]}; {model.filename} is byte-for-byte the same",
        )
    pinned = " (pinned: it stays as it is until you unpin it)" if model.pinned else ""
    return UpdateStatus(
        model,
        UpdateState.FILE_CHANGED,
        latest,
        f"{revision} moved to {latest[:7]} with a new {model.filename}{pinned}",
    )


def check_updates(store: ModelStore, client: HubClient) -> list[UpdateStatus]:
    """What upstream did to each installed Hub model. Changes nothing."""
    return [check_model(client, m) for m in store.list_models() if m.source in ("hub", "bundled")]


def update(
    store: ModelStore,
    downloader: Downloader,
    ref: str,
    *,
    on_progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    activate: bool = True,
) -> tuple[UpdateStatus, InstalledModel | None]:
    """Install the newest version of an unpinned model beside the old one.

    ``activate``: make it the active model at once; False leaves the active model as it
    is, for a caller that shows a behaviour check first and switches when told to.
    """
    model = store.get(ref)
    if model.pinned:
        raise ModelPinned(f"{model.id} is pinned, so it is never updated. {unpin_hint(model.id)}")
    status = check_model(downloader.client, model)
    if status.state is UpdateState.ERROR:
        raise DriftlessError(status.message)
    if status.state is not UpdateState.FILE_CHANGED or status.latest_commit is None:
        return status, None
    assert model.repo is not None
    installed = downloader.pull(
        model.repo,
        model.filename,
        status.latest_commit,
        on_progress=on_progress,
        cancel=cancel,
    )
    # pull() records the exact commit; keep following the same branch as before.
    store.set_tracked_revision(installed.id, model.revision or "main")
    if activate:
        store.set_active(installed.id)
    return status, store.get(installed.id)


def lock_fetcher(downloader: Downloader, on_progress: ProgressFn | None = None) -> Fetcher:
    """A fetcher for :func:`app.core.models.lockfile.import_lock` that downloads exact versions."""

    def fetch(entry: LockEntry, cancel: CancelToken | None) -> InstalledModel:
        if not entry.repo or not entry.commit:
            raise ModelNotFound(
                f"{entry.describe()} is a local file, so it cannot be downloaded; copy it here "
                "and import it with driftless models import."
            )
        return downloader.pull(
            entry.repo,
            entry.filename,
            entry.commit,
            expected_sha256=entry.sha256,
            on_progress=on_progress,
            cancel=cancel,
        )

    return fetch
