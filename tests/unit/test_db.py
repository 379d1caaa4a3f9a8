"""The one database module: pragmas, transactions, migrations and sentences for failures."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from app.core.db import Database, split_statements
from app.core.errors import DriftlessError


class StoreFailed(DriftlessError):
    pass


MIGRATIONS = (
    """
    -- 1: a table, and a trigger whose body holds two statements and a ';' in a string
    CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL DEFAULT ';');
    CREATE TABLE log (what TEXT);
    CREATE TRIGGER notes_logged AFTER INSERT ON notes BEGIN
        INSERT INTO log (what) VALUES ('added; once');
        INSERT INTO log (what) VALUES (new.text);
    END;
    """,
    "ALTER TABLE notes ADD COLUMN tag TEXT",
)


def open_db(path: Path, migrations: tuple[str, ...] = MIGRATIONS) -> Database:
    return Database(path, migrations, what="The notes", error=StoreFailed)


def create(path: Path) -> None:
    db = open_db(path)
    with db.read():
        pass
    db.close()


def test_split_statements_keeps_triggers_and_strings_whole() -> None:
    statements = split_statements(MIGRATIONS[0])
    assert len(statements) == 3
    assert statements[2].startswith("CREATE TRIGGER") and statements[2].endswith("END;")
    assert split_statements("SELECT 1; SELECT ';'") == ["SELECT 1;", "SELECT ';'"]
    assert split_statements("  \n-- nothing\n") == []


def test_migrations_run_once_in_order_and_triggers_work(tmp_path: Path) -> None:
    db = open_db(tmp_path / "notes.sqlite3")
    with db.write() as conn:
        conn.execute("INSERT INTO notes (text, tag) VALUES ('hello', 'x')")
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT what FROM log")] == ["added; once", "hello"]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    db.close()
    # A second opening of the same file runs nothing again.
    again = open_db(tmp_path / "notes.sqlite3")
    with again.read() as conn:
        assert conn.execute("SELECT count(*) FROM log").fetchone()[0] == 2
    again.close()


def test_a_newer_schema_is_refused_with_a_sentence(tmp_path: Path) -> None:
    create(tmp_path / "n.sqlite3")
    with (
        pytest.raises(StoreFailed, match=r"written by a newer Driftless \(schema 2, this one"),
        open_db(tmp_path / "n.sqlite3", MIGRATIONS[:1]).read(),
    ):
        pass


def test_a_failed_write_is_rolled_back(tmp_path: Path) -> None:
    db = open_db(tmp_path / "n.sqlite3")
    with pytest.raises(ZeroDivisionError), db.write() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('lost')")
        raise ZeroDivisionError
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


def test_a_read_takes_no_write_lock(tmp_path: Path) -> None:
    """Another process may write while this one holds a read transaction (WAL, deferred)."""
    path = tmp_path / "n.sqlite3"
    db = open_db(path)
    with db.read() as conn:
        conn.execute("SELECT count(*) FROM notes").fetchone()
        other = sqlite3.connect(path, timeout=0.1)
        other.execute("INSERT INTO notes (text) VALUES ('from elsewhere')")
        other.commit()
        other.close()
        # The snapshot taken at the first read does not move within the transaction.
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 1


def test_each_thread_keeps_one_connection(tmp_path: Path) -> None:
    db = open_db(tmp_path / "n.sqlite3")
    with db.read() as first:
        pass
    with db.read() as second:
        assert second is first
    seen: list[sqlite3.Connection] = []

    def work() -> None:
        with db.write() as conn:
            conn.execute("INSERT INTO notes (text) VALUES ('thread')")
            seen.append(conn)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen and seen[0] is not first
    db.close()


def test_nested_transactions_join_but_a_write_never_hides_in_a_read(tmp_path: Path) -> None:
    db = open_db(tmp_path / "n.sqlite3")
    with db.write() as outer, db.read() as inner:
        assert inner is outer
    with pytest.raises(RuntimeError, match="cannot nest inside a read"), db.read(), db.write():
        pass


def test_a_busy_file_says_to_try_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.core.db.BUSY_TIMEOUT", 0.05)
    path = tmp_path / "n.sqlite3"
    create(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(StoreFailed, match=r"is busy: another Driftless is writing"),
            open_db(path).write(),
        ):
            pass
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_a_damaged_file_is_named_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    path.write_bytes(b"this is not a database, and it is long enough to look like one" * 64)
    with (
        pytest.raises(StoreFailed, match=r"is damaged .*move the file aside \(keep it"),
        open_db(path).read(),
    ):
        pass
    assert path.exists()


def test_a_read_only_file_never_advises_moving_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "n.sqlite3"
    create(path)
    real_connect = sqlite3.connect

    def read_only(database: Path, **kwargs: object) -> sqlite3.Connection:
        # As a read-only folder or medium would (root ignores permission bits).
        kwargs.pop("uri", None)
        return real_connect(f"file:{database}?mode=ro", uri=True, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("app.core.db.sqlite3.connect", read_only)
    with pytest.raises(StoreFailed) as caught, open_db(path).write() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('x')")
    assert "cannot be opened for writing" in str(caught.value)
    assert "nothing in it was lost" in str(caught.value)
    assert "aside" not in str(caught.value)


def test_a_full_disk_says_so_and_loses_nothing(tmp_path: Path) -> None:
    db = open_db(tmp_path / "n.sqlite3")
    with db.write() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('kept')")
    with pytest.raises(StoreFailed) as caught, db.write() as conn:
        conn.execute("PRAGMA max_page_count = 1")  # the file cannot grow: as a full disk
        conn.execute("INSERT INTO notes (text) VALUES (?)", ("x" * 100_000,))
    assert "the disk is full" in str(caught.value)
    assert "aside" not in str(caught.value)
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT text FROM notes")] == ["kept"]


def test_a_file_migrated_by_a_newer_driftless_meanwhile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    db = open_db(path)
    with db.read():
        pass
    other = sqlite3.connect(path)
    other.execute("PRAGMA user_version = 7")
    other.close()
    with pytest.raises(StoreFailed, match=r"newer Driftless \(schema 7"), db.read():
        pass
