"""Collections: incremental adds, removals, the pinned embedder, hybrid ranking, files 0600."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from app.core.cancel import Cancelled, CancelToken
from app.core.docs.library import EMBED_BATCH, DocsLibrary, query_text
from app.core.docs.records import EmbedderMismatch
from app.core.docs.search import VECTOR_WEIGHT, fuse, match_expression
from app.core.docs.vectors import SearchVectors, nearest
from tests.unit.docs.fakes import HashEmbedder


@pytest.fixture
def library(tmp_path: Path) -> DocsLibrary:
    made = DocsLibrary(tmp_path / "home" / "documents.sqlite3")
    yield made
    made.close()


def make_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "refunds.md").write_text("# Refunds\n\nMoney is returned within 14 days of a claim.")
    (root / "shipping.txt").write_text("Parcels travel by post and arrive in three days.")
    (root / "warranty.html").write_text("<h1>Warranty</h1><p>Two years on every part.</p>")
    (root / "junk.txt").write_bytes(b"\x00\x01binary\x00" * 50)
    return root


def test_readd_reads_only_the_edited_file_and_drops_removed_ones(
    library: DocsLibrary, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path / "docs")
    embedder = HashEmbedder()
    first = library.add("help", [folder], lambda ref: embedder)
    assert sorted(Path(p).name for p in first.read) == [
        "refunds.md",
        "shipping.txt",
        "warranty.html",
    ]
    assert [(Path(s.path).name, s.reason) for s in first.skipped] == [
        ("junk.txt", "it is a binary file, not text")
    ]
    assert library.get("help").files == 3 and library.get("help").skipped == 1

    (folder / "shipping.txt").write_text("Parcels travel by courier now and arrive tomorrow.")
    os.utime(folder / "refunds.md")  # a new mtime, the same bytes: hashed, not read
    (folder / "warranty.html").unlink()
    opened: list[str | None] = []

    def factory(ref: str | None) -> HashEmbedder:
        opened.append(ref)
        return HashEmbedder()

    again = library.add("help", [folder], factory)
    assert [Path(p).name for p in again.read] == ["shipping.txt"]
    assert again.unchanged == 1
    assert [Path(p).name for p in again.removed] == ["warranty.html"]
    assert [Path(s.path).name for s in again.skipped] == ["junk.txt"]  # listed, not re-read
    assert opened == ["fake-aaaa"]  # the recorded embedder, opened once for the one file
    hits = library.search("help", "courier", HashEmbedder(), top=3)
    assert Path(hits[0].source).name == "shipping.txt" and "courier" in hits[0].text
    assert not library.search("help", "warranty", None, mode="keyword")

    nothing = library.refresh("help", factory)
    assert nothing.read == [] and nothing.unchanged == 2 and opened == ["fake-aaaa"]


def test_another_embedder_is_refused_unless_reembed(library: DocsLibrary, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    library.add("help", [folder], lambda ref: HashEmbedder())
    other = HashEmbedder(sha256="b" * 64)
    with pytest.raises(EmbedderMismatch, match="--reembed"):
        library.add("help", [folder], lambda ref: other, embedder="other")
    with pytest.raises(EmbedderMismatch):
        library.search("help", "refunds", other)
    assert library.get("help").embedder.sha256 == "a" * 64
    assert other.closed

    progress: list[tuple[str, int, int]] = []
    report = library.add(
        "help",
        [folder],
        lambda ref: other,
        embedder="other",
        reembed=True,
        on_progress=lambda *a: progress.append(a),
    )
    assert report.reembedded == 3 and ("re-embedding", 3, 3) in progress
    assert library.get("help").embedder.sha256 == "b" * 64
    assert library.search("help", "refunds", other)


def test_a_cancelled_reembed_keeps_the_old_vectors_searchable(
    library: DocsLibrary, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(EMBED_BATCH + 8):  # two batches: the cancel lands between them
        (folder / f"note{i:02}.txt").write_text(f"Note {i} about topic{i} and nothing else.")
    old = HashEmbedder()
    library.add("notes", [folder], lambda ref: old)
    before = library.search("notes", "topic7", old, top=3)
    vectors_before = library.store.vectors(library.get("notes").id).matrix.copy()
    token = CancelToken()

    class CancelsMidway(HashEmbedder):
        def embed(self, texts, cancel=None):  # type: ignore[no-untyped-def]
            rows = super().embed(texts, cancel)
            token.cancel()  # the user presses Cancel while the first batch is embedded
            return rows

    other = CancelsMidway(sha256="b" * 64)
    progress: list[tuple[str, int, int]] = []
    with pytest.raises(Cancelled):
        library.reembed(
            "notes",
            lambda ref: other,
            "other",
            on_progress=lambda *a: progress.append(a),
            cancel=token,
        )
    assert progress == [("re-embedding", EMBED_BATCH, EMBED_BATCH + 8)], "stopped after one"
    assert other.closed
    info = library.get("notes")
    assert info.embedder.sha256 == "a" * 64, "still pinned to the old embedder"
    assert np.array_equal(library.store.vectors(info.id).matrix, vectors_before)
    with library.store.db.read() as conn:
        staged = conn.execute(
            "SELECT count(*) FROM passages WHERE next_vector IS NOT NULL"
        ).fetchone()[0]
    assert staged == 0, "the half-made vectors are dropped"
    after = library.search("notes", "topic7", old, top=3)
    assert [h.source for h in after] == [h.source for h in before]
    assert Path(after[0].source).name == "note07.txt"
    with pytest.raises(EmbedderMismatch):
        library.search("notes", "topic7", HashEmbedder(sha256="b" * 64))

    report = library.reembed("notes", lambda ref: HashEmbedder(sha256="b" * 64), "other")
    assert report.reembedded == EMBED_BATCH + 8 and report.read == []
    assert library.get("notes").embedder.sha256 == "b" * 64
    assert library.get("notes").version > info.version
    assert library.search("notes", "topic7", HashEmbedder(sha256="b" * 64), top=1)


def test_a_chat_models_query_is_embedded_twice_an_embedding_models_once(
    library: DocsLibrary, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path / "docs")
    encoder = HashEmbedder()  # layer None: an embedding model, or a last-layer mean
    library.add("enc", [folder], lambda ref: encoder)
    encoder.texts.clear()
    library.search("enc", "refund claims", encoder)
    assert encoder.texts == ["refund claims"]

    chat = HashEmbedder(sha256="c" * 64)
    chat.info = dataclasses.replace(chat.info, layer=6, scaling="standardized")
    library.add("chat", [folder], lambda ref: chat)
    chat.texts.clear()
    hits = library.search("chat", "refund claims", chat, top=1)
    assert chat.texts == ["refund claims\nrefund claims"]
    assert Path(hits[0].source).name == "refunds.md"
    long = "word " * 300  # twice would not fit the context: once
    assert query_text(chat.info, long) == long


def test_a_failure_mid_add_leaves_no_half_indexed_file(
    library: DocsLibrary, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path / "docs")

    class Failing(HashEmbedder):
        def embed(self, texts, cancel=None):  # type: ignore[no-untyped-def]
            if any("Parcels" in t for t in texts):
                raise KeyboardInterrupt  # as a kill would, between files
            return super().embed(texts, cancel)

    with pytest.raises(KeyboardInterrupt):
        library.add("help", [folder], lambda ref: Failing())
    files = library.store.file_states(library.get("help").id)
    assert sorted(Path(p).name for p in files) == ["junk.txt", "refunds.md"]
    resumed = library.add("help", [folder], lambda ref: HashEmbedder())
    assert sorted(Path(p).name for p in resumed.read) == ["shipping.txt", "warranty.html"]


def test_hybrid_finds_what_either_list_finds(library: DocsLibrary, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("The automobile needs new tyres before winter.")
    (folder / "b.txt").write_text("A car insurance claim takes a week to settle.")
    (folder / "c.txt").write_text("Gardening tips for tomatoes and peppers in spring.")
    embedder = HashEmbedder(synonyms={"automobile": "car"})
    library.add("cars", [folder], lambda ref: embedder)
    keyword = library.search("cars", "car", embedder, mode="keyword")
    vector = library.search("cars", "car", embedder, mode="vector")
    hybrid = library.search("cars", "car", embedder, top=3)
    assert [Path(h.source).name for h in keyword] == ["b.txt"]
    assert {Path(h.source).name for h in vector[:2]} == {"a.txt", "b.txt"}
    names = [Path(h.source).name for h in hybrid]
    assert names[0] == "b.txt" and names[1] == "a.txt"  # in both lists beats in one
    assert hybrid[0].fts_rank == 1 and hybrid[1].fts_rank is None
    assert hybrid[0].vector_rank in (1, 2)
    weight = VECTOR_WEIGHT  # the vectors' share against the keywords' 1
    assert hybrid[0].score == pytest.approx(1 / 61 + weight / (60 + hybrid[0].vector_rank))
    assert hybrid[0].to_json()["source"].endswith("b.txt")


def test_fusion_and_exact_search_and_match_expressions() -> None:
    assert fuse([[1, 2, 3], [3, 1]]) == [
        (1, pytest.approx(1 / 61 + 1 / 62)),
        (3, pytest.approx(1 / 63 + 1 / 61)),
        (2, pytest.approx(1 / 62)),
    ]
    assert fuse([[1], [2]], weights=[1.0, 0.5]) == [
        (1, pytest.approx(1 / 61)),
        (2, pytest.approx(0.5 / 61)),
    ]
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((500, 16)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = np.arange(1000, 1500, dtype=np.int64)
    vectors = SearchVectors(ids, matrix)
    assert nearest(vectors, matrix[42], 5)[0] == 1042
    assert nearest(vectors, matrix[42], 5) == [
        int(i) for i in ids[np.argsort(-(matrix @ matrix[42]))[:5]]
    ]
    assert match_expression('How do I "drop" a NEAR table?') == '"drop" OR "near" OR "table"'
    assert match_expression("the") == '"the"'
    assert match_expression("!!") is None


def test_index_file_is_private(library: DocsLibrary, tmp_path: Path) -> None:
    library.add("help", [make_folder(tmp_path / "docs")], lambda ref: HashEmbedder())
    index = tmp_path / "home" / "documents.sqlite3"
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    wal = index.with_name(index.name + "-wal")
    if wal.exists():
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600


def test_files_over_the_cap_are_skipped_with_the_cap_said(
    library: DocsLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.core.docs.library as library_module

    folder = make_folder(tmp_path / "docs")
    monkeypatch.setattr(library_module, "MAX_FILE_BYTES", 50)
    report = library.add("help", [folder], lambda ref: HashEmbedder())
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "55 bytes, more than the 50 bytes" in reasons["refunds.md"]
    assert sorted(Path(p).name for p in report.read) == ["shipping.txt", "warranty.html"]
