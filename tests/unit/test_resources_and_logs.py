"""Bundled files are found in a frozen build as from source; the log file rotates."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from app.core import logs
from app.core.models.catalog import CATALOG_PATH, load_catalog
from app.core.models.starter import STARTER, find_starter_file
from app.core.paths import Paths
from app.core.resources import SOURCE_ROOT, bundle_root, frozen_bundle, resource_path


@pytest.fixture
def frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pretend to be a PyInstaller build whose bundle is ``tmp_path/_internal``."""
    bundle = tmp_path / "_internal"
    bundle.mkdir()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    return bundle


def test_from_source_resources_are_in_the_checkout() -> None:
    assert frozen_bundle() is None
    assert bundle_root() == SOURCE_ROOT
    assert resource_path("catalog.json") == CATALOG_PATH
    assert load_catalog(resource_path("catalog.json"))


def test_frozen_resources_and_starter_come_from_the_bundle(frozen: Path) -> None:
    assert frozen_bundle() == frozen
    assert resource_path("icons", "x.svg") == frozen / "resources" / "icons" / "x.svg"
    model = frozen / STARTER.package / STARTER.filename
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    assert find_starter_file() == model


def test_frozen_without_a_bundled_starter_falls_back_to_the_package(frozen: Path) -> None:
    found = find_starter_file()
    assert found is not None and frozen not in found.parents


def test_log_file_is_in_the_data_folder_and_set_up_once(paths: Paths) -> None:
    try:
        path = logs.setup_logging(paths)
        assert path == paths.logs_dir / "driftless.log"
        again = logs.setup_logging(paths)
        ours = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
        assert sum(Path(h.baseFilename) == again for h in ours) == 1, "replaced, not added"
        logging.getLogger("app.test").warning("the model file moved")
        assert logs.current_log_file() == path
        text = path.read_text(encoding="utf-8")
        assert "Driftless 0.1.0 started" in text
        assert "WARNING app.test [MainThread] the model file moved" in text
    finally:
        logs.stop_logging()
    assert logs.current_log_file() is None


def test_log_file_rotates_and_keeps_three(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    try:
        path = logs.setup_logging(paths)
        for n in range(200):
            logging.getLogger("app.test").info("line %d %s", n, "x" * 40)
    finally:
        logs.stop_logging()
    kept = sorted(p.name for p in path.parent.iterdir())
    assert kept == ["driftless.log", "driftless.log.1", "driftless.log.2", "driftless.log.3"]
    assert all(p.stat().st_size <= 2_100 for p in path.parent.iterdir())
