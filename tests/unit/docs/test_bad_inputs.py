"""The issue's bad inputs that the reader and walk tests leave out: text in no encoding
Driftless knows, a file that cannot be opened (also as root), a real SIGKILL in the
middle of an add, and a folder of 100,000 files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from app.core.docs.library import DocsLibrary
from app.core.docs.passages import split_document
from app.core.docs.readers import Unreadable, decode_text, read_document
from app.core.docs.walk import MAX_FILES, find_files
from tests.unit.docs.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parents[3]


def test_text_in_no_encoding_driftless_knows_is_named() -> None:
    # 0x81 and 0x8d are neither UTF-8 here nor Windows-1252 at all.
    with pytest.raises(Unreadable, match=r"not UTF-8 \(byte 6 is not\).*save it as UTF-8"):
        decode_text(b"price \x81\x8d\x8f\x90 list")


def test_a_file_that_cannot_be_opened_is_skipped_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "open.txt").write_text("Anyone may read this page about refunds.")
    locked = folder / "locked.txt"
    locked.write_text("Only the owner may read this page.")
    locked.chmod(0)
    real_open = Path.open

    def refusing(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "locked.txt":  # root opens a 0000 file anyway: refuse as a user
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", refusing)
    library = DocsLibrary(tmp_path / "documents.sqlite3")
    try:
        report = library.add("kb", [folder], lambda ref: HashEmbedder())
    finally:
        locked.chmod(0o600)
        library.close()
    assert [Path(p).name for p in report.read] == ["open.txt"]
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("locked.txt", "it cannot be read (permission denied)")
    ]


SLOW_ADD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from app.core.docs.library import DocsLibrary
    from tests.unit.docs.fakes import HashEmbedder

    class Slow(HashEmbedder):
        def embed(self, texts, cancel=None):
            print("embedding", flush=True)
            time.sleep(0.02)
            return super().embed(texts, cancel)

    DocsLibrary(Path(sys.argv[1])).add("kb", [Path(sys.argv[2])], lambda ref: Slow())
    print("finished", flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_in_the_middle_of_an_add_leaves_whole_files_and_adding_again_resumes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(120):
        paragraphs = [
            f"Page {i}, part {k}: " + "words about refunds and parcels " * 20 for k in range(4)
        ]
        (folder / f"page-{i:03}.md").write_text(f"# Page {i}\n\n" + "\n\n".join(paragraphs))
    index = tmp_path / "documents.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_ADD, str(index), str(folder), str(ROOT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    for _ in range(30):  # well into the add, between or inside a file's transaction
        assert child.stdout.readline() == "embedding\n"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)
    assert child.returncode == -signal.SIGKILL

    library = DocsLibrary(index)
    try:
        info = library.get("kb")
        states = library.store.file_states(info.id)
        assert 25 <= len(states) < 120
        with library.store.db.read() as conn:
            counts = dict(
                conn.execute(
                    "SELECT f.path, count(p.id) FROM files f LEFT JOIN passages p "
                    "ON p.file_id = f.id GROUP BY f.id"
                ).fetchall()
            )
            indexed = conn.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
        for path, count in counts.items():  # every file as a whole: all its passages
            page = Path(path)
            expected = split_document(read_document(page, page.read_bytes()))
            assert count == len(expected), path
        assert indexed == sum(counts.values())

        resumed = library.add("kb", [folder], lambda ref: HashEmbedder())
        assert len(resumed.read) == 120 - len(states) and resumed.unchanged == len(states)
        assert library.get("kb").files == 120
    finally:
        library.close()


@pytest.mark.slow
def test_a_folder_of_100k_files_is_walked_in_bounded_time_and_says_where_it_stopped(
    tmp_path: Path,
) -> None:
    # In memory where there is a tmpfs: 100,000 files on a busy disk take minutes to make.
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    try:
        walk_100k(scratch / "many")
    finally:
        if scratch != tmp_path:
            shutil.rmtree(scratch)


def walk_100k(folder: Path) -> None:
    for part in range(10):
        sub = folder / f"part-{part}"
        sub.mkdir(parents=True)
        for i in range(10_000):
            os.close(os.open(sub / f"{i:05}.txt", os.O_CREAT | os.O_WRONLY, 0o600))
    started = time.monotonic()
    found = find_files([folder])
    seconds = time.monotonic() - started
    assert len(found.files) == MAX_FILES
    assert found.truncated is not None and f"{MAX_FILES:,}" in found.truncated
    assert seconds < 60, seconds
