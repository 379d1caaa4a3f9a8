"""Joining a Ray cluster (or starting a local one) from the driver.

``auto`` joins the cluster in ``RAY_ADDRESS`` when it is set, else starts a Ray of its
own on this computer, bound to 127.0.0.1, with no dashboard and no usage statistics.
``ray://HOST:PORT`` (Ray Client) and ``HOST:PORT`` (a node of the cluster itself) join
that cluster. Ray is imported here, inside functions: ``import app.core.cluster`` works
without the cluster extra, and a missing Ray is a sentence, not a traceback.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from app.core.cluster.errors import ClusterError, ClusterMissing

LOCAL_HOST = "127.0.0.1"


def import_ray() -> ModuleType:
    """Ray, or :class:`ClusterMissing` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterMissing(
            "Classifying on a cluster needs Ray, which is not installed: "
            "install driftless[cluster] (pip install 'driftless[cluster]')."
        ) from exc
    module: ModuleType = ray
    return module


@dataclass(frozen=True)
class ClusterInfo:
    """The cluster a run uses."""

    address: str
    started_here: bool
    nodes: int
    cpus: int


def connect(address: str = "auto", *, num_cpus: int | None = None) -> ClusterInfo:
    """Join (or, for ``auto`` without ``RAY_ADDRESS``, start) the cluster; idempotent.

    ``num_cpus`` limits a Ray started here; a cluster that already runs keeps its own.
    """
    target = address.strip()
    if target == "auto":
        target = os.environ.get("RAY_ADDRESS", "").strip()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not target and "ray" not in sys.modules and not os.environ.get("RAY_AUTH_MODE"):
        # A Ray started here gets a token of its own, for this process and the workers it
        # starts (they inherit the environment): nothing else on the computer can join it,
        # and Ray writes no token to ~/.ray. Ray reads these once, when it is imported.
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    ray = import_ray()
    started_here = False
    if not ray.is_initialized():
        # Ray's own notices (its token, its progress bars) would bury our progress line.
        common: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if target:
                ray.init(address=target, **common)
            else:
                started_here = True
                ray.init(
                    address="local",
                    _node_ip_address=LOCAL_HOST,
                    include_dashboard=False,
                    num_cpus=num_cpus,
                    **common,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(
                f"Could not join the Ray cluster at {target or 'a new local Ray'}: {exc}"
            ) from exc
        _quiet_ray_data()
    resources = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return ClusterInfo(
        address=address,
        started_here=started_here,
        nodes=len(nodes),
        cpus=int(resources.get("CPU", 0)),
    )


def disconnect() -> None:
    """Leave the cluster (and stop a Ray this process started)."""
    ray = import_ray()
    if ray.is_initialized():
        ray.shutdown()


def _quiet_ray_data() -> None:
    """Our progress line replaces Ray Data's bars and its start-up banner."""
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.verbose_stats_logs = False
