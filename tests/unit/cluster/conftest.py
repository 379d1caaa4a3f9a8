"""A real Ray cluster on 127.0.0.1 for the cluster tests: a head and a worker node.

Both nodes are ``ray start`` processes of their own, in process groups of their own, in
a temporary folder of their own, with no dashboard and no usage statistics; every Ray
port is bound to 127.0.0.1. The fixture stops them (the whole process groups) at the end
of the session, whether the tests passed or not. Workers import this checkout's ``app``
(PYTHONPATH), whatever copy of Driftless the virtual environment has installed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.classify import LabelSet, MethodOptions, Prediction, Workbench, run_file
from app.core.classify.table import Columns, choose_columns, sniff
from app.core.cluster import ClassifierJob
from app.core.models.store import ModelStore
from tests.unit.classify.sst2 import sst2_rows, write_sst2

ROOT = Path(__file__).resolve().parents[3]
ROWS = 96
"""Rows of SST-2 classified locally and on the cluster: three blocks of 32."""
BLOCK = 32
DRIVER_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_env(temp: Path, token: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        # A token of this session's own: nothing else on the machine joins this cluster,
        # and nothing is read from or written to ~/.ray.
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_USAGE_STATS_ENABLED="0",
        # 1, not 0: the variable *enables* multi-node clusters (Linux's default); at 0
        # `ray start --address` aborts: "Multi-node Ray clusters are not supported".
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        TMPDIR=str(temp),
    )
    env.pop("RAY_ADDRESS", None)
    return env


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> int:
    """``ray start ...`` in a new process group; returns the group (its daemons stay in it)."""
    ray = Path(sys.executable).with_name("ray")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(ray), "start", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        code = proc.wait(timeout=180)
    if code != 0:
        _stop_group(proc.pid)
        pytest.fail(f"ray start {' '.join(args)} failed ({code}): {log.read_text()[-2000:]}")
    return proc.pid


def _stop_group(pgid: int) -> None:
    for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)  # polling for the processes to exit, not synchronising a test


@dataclass(frozen=True)
class LocalCluster:
    address: str
    temp: Path


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalCluster]:
    # Ray's socket paths must stay under 108 bytes: a short folder of our own in /tmp.
    temp = Path(tempfile.mkdtemp(prefix="dl-ray-", dir="/tmp"))
    token = secrets.token_hex(32)
    env = _ray_env(temp, token)
    port = _free_port()
    saved = {k: os.environ.get(k) for k in DRIVER_ENV}
    # Ray reads its authentication settings once, when it is first imported.
    os.environ.update({k: env[k] for k in DRIVER_ENV})
    import ray

    groups: list[int] = []
    common = ["--node-ip-address=127.0.0.1", f"--temp-dir={temp}", "--num-cpus=1"]
    try:
        groups.append(
            _ray_start(
                [
                    "--head",
                    f"--port={port}",
                    "--include-dashboard=false",
                    "--disable-usage-stats",
                    *common,
                ],
                env,
                temp / "head.log",
            )
        )
        address = f"127.0.0.1:{port}"
        groups.append(_ray_start([f"--address={address}", *common], env, temp / "worker.log"))
        from app.core.cluster import connect

        info = connect(address)
        deadline = time.monotonic() + 60
        while info.nodes < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # waiting for the worker node to register
            info = connect(address)
        assert info.nodes == 2, f"the worker node did not join: {info}"
        yield LocalCluster(address, temp)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for group in reversed(groups):
            _stop_group(group)
        shutil.rmtree(temp, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Reference:
    """The file, its local run's predictions (row number → prediction) and the job."""

    columns: Columns
    local: dict[int, Prediction]
    job: ClassifierJob
    local_seconds: float


@pytest.fixture(scope="module")
def reference(module_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    folder = tmp_path_factory.mktemp("cluster-input")
    columns = choose_columns(sniff(write_sst2(folder / "sst2.tsv", sst2_rows(ROWS))))
    with Workbench(module_store.paths, module_store) as bench:
        info = bench.open_model(None)
        classifier = bench.classifier(
            LabelSet.from_names(["negative", "positive"]), MethodOptions()
        )
        started = time.perf_counter()
        local = {r.number: r.prediction for r in run_file(bench.runs, classifier, columns)}
        seconds = time.perf_counter() - started
        job = ClassifierJob.of(
            classifier,
            module_store.get(info.model_id),
            unpacked_dir=module_store.paths.unpacked_dir,
        )
    assert len(local) == ROWS and all(p is not None for p in local.values())
    return Reference(columns, {k: v for k, v in local.items() if v is not None}, job, seconds)
