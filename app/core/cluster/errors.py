"""The errors a cluster run raises; each message is a sentence a person can act on."""

from __future__ import annotations

from app.core.errors import DriftlessError


class ClusterError(DriftlessError):
    """The cluster could not be reached, or a run on it failed."""


class ClusterMissing(ClusterError):
    """Ray is not installed: the cluster extra is optional."""


class WorkerRefused(ClusterError):
    """A worker would not score rows: its model, label set or head is not the job's."""
