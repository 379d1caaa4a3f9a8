"""Classification at cluster scale on Ray: the same pinned classifier, identical results.

- :mod:`.job`: what every worker receives (the model's lock entry and a path to it, the
  label set, the taught head, the classifier's record) and how it verifies and rebuilds
  the classifier; a mismatch refuses and names the worker.
- :mod:`.actor`: the Ray Data actor that classifies blocks of rows.
- :mod:`.run`: the driver: blocks of rows out, results committed per block to the local
  run store under the local checkpoint's key, so runs resume after any crash.
- :mod:`.source`, :mod:`.output`: CSV/TSV (as a local run reads them) and Parquet.
- :mod:`.connect`: joining a cluster, or starting a local Ray on 127.0.0.1.

Ray and pyarrow come with the optional extra (``pip install driftless[cluster]``) and are
imported only inside functions: importing this package is cheap and works without them.
"""

from __future__ import annotations

from app.core.cluster.connect import ClusterInfo, connect, disconnect, import_ray
from app.core.cluster.errors import ClusterError, ClusterMissing, WorkerRefused
from app.core.cluster.job import ClassifierJob, build_classifier, verify_model
from app.core.cluster.run import (
    BLOCK_ROWS,
    BlockDone,
    ClusterProgress,
    open_cluster_run,
    run_on_cluster,
    write_results,
)
from app.core.cluster.source import InputSource, from_columns, is_parquet, open_input

__all__ = [
    "BLOCK_ROWS",
    "BlockDone",
    "ClassifierJob",
    "ClusterError",
    "ClusterInfo",
    "ClusterMissing",
    "ClusterProgress",
    "InputSource",
    "WorkerRefused",
    "build_classifier",
    "connect",
    "disconnect",
    "from_columns",
    "import_ray",
    "is_parquet",
    "open_cluster_run",
    "open_input",
    "run_on_cluster",
    "verify_model",
    "write_results",
]
