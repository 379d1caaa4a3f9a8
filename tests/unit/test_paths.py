"""The data folder: private to its owner, tightened when an older version left it open."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from app.core.logs import setup_logging, stop_logging
from app.core.models.store import ModelStore
from app.core.paths import get_paths, make_private
from app.core.settings import Settings, save_settings
from tests.model_files import tiny_model


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_data_folder_is_private(home: Path, tmp_path: Path) -> None:
    assert not home.exists()
    paths = get_paths(home).ensure()
    store = ModelStore(paths)
    store.import_file(tiny_model(tmp_path / "m.gguf"))
    save_settings(paths, Settings())
    try:
        setup_logging(paths)
        logging.getLogger("app").warning("a line, so the file exists")
    finally:
        stop_logging()
    for folder in (home, paths.models_dir, paths.logs_dir, paths.models_dir / "local"):
        assert mode(folder) == 0o700, folder
    wal = paths.registry_db.with_name(paths.registry_db.name + "-wal")
    assert wal.exists(), "the registry is open in WAL mode"
    for file in (paths.registry_db, wal, paths.settings_file, paths.logs_dir / "driftless.log"):
        assert mode(file) == 0o600, file


def test_an_existing_open_folder_is_tightened_at_start(home: Path, tmp_path: Path) -> None:
    # As an older Driftless left it, with a umask of 022.
    (home / "logs").mkdir(parents=True)
    (home / "label_sets").mkdir()
    files = [home / "conversations.sqlite3", home / "logs" / "driftless.log"]
    files.append(home / "label_sets" / "tickets.json")
    for file in files:
        file.write_text("private")
        file.chmod(0o644)
    for folder in (home, home / "logs", home / "label_sets"):
        folder.chmod(0o755)
    outside = tmp_path / "linked-model.gguf"  # a model used in place is not Driftless's
    outside.write_text("someone else's")
    outside.chmod(0o644)
    (home / "link.gguf").symlink_to(outside)

    get_paths(home).ensure()
    for folder in (home, home / "logs", home / "label_sets"):
        assert mode(folder) == 0o700, folder
    for file in files:
        assert mode(file) == 0o600, file
    assert mode(outside) == 0o644, "what a link points to is left alone"


def test_tightening_only_takes_permissions_away(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir(mode=0o755)
    script = folder / "tool"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o751)
    already = folder / "done"
    already.write_text("")
    already.chmod(0o400)
    assert make_private(folder) == 2
    assert (mode(folder), mode(script), mode(already)) == (0o700, 0o700, 0o400)
    assert make_private(folder) == 0


def test_a_path_under_home_is_shown_from_tilde(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.paths import shown_path

    monkeypatch.setenv("HOME", "/home/ada")
    assert shown_path("/home/ada/Documents/Handbook") == "~/Documents/Handbook"
    assert shown_path(Path("/home/ada")) == "~"
    assert shown_path("/home/adam/notes") == "/home/adam/notes"  # not a folder of home
    assert shown_path("/srv/handbook") == "/srv/handbook"
