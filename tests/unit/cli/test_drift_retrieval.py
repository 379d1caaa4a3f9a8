"""Retrieval items in check sets: ``driftless drift record --retrieval`` records a query's
passages and scores; after ``docs add --reembed`` with another embedder, ``drift check``
reports retrieval drift and names the embedder (fake embedders, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import docs as docs_cmd
from app.cli import main
from app.core.drift.retrieval import RetrievalAnswer, RetrievalItem, RetrievedPassage
from app.core.drift.retrieval import retrieval_change as change_of
from tests.unit.docs.fakes import HashEmbedder


@pytest.fixture
def embedders(monkeypatch: pytest.MonkeyPatch) -> None:
    """'other' stands for another model: other weights, so other vectors."""

    def factory(store: object) -> object:
        def open_embedder(ref: str | None) -> HashEmbedder:
            if ref in ("other", "fake-bbbb"):  # by its name, then by the id it recorded
                return HashEmbedder(sha256="b" * 64, synonyms={"money": "parcels"})
            return HashEmbedder()

        return open_embedder

    monkeypatch.setattr(docs_cmd, "embedder_factory", factory)


@pytest.fixture
def queries(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    (root / "refunds.md").write_text("# Refunds\n\nMoney is returned within 14 days.\n")
    (root / "shipping.txt").write_text("Parcels go by post and arrive in three days.\n")
    (root / "warranty.txt").write_text("Every part has a warranty of two years.\n")
    assert main(["docs", "add", "kb", str(root)]) == 0
    lines = [
        {"collection": "kb", "query": "when is my money returned", "top": 3},
        {"collection": "kb", "query": "how long is the warranty"},
    ]
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_retrieval_drift_is_reported_after_a_reembed(
    embedders: None, queries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", "record", "kb-search", "--retrieval", str(queries)]) == 0
    capsys.readouterr()

    assert main(["drift", "check", "kb-search", "--json"]) == 0  # nothing changed yet
    same = json.loads(capsys.readouterr().out)
    assert same["identical"] and same["retrievals_checked"] == 2

    kb = str(queries.parent / "kb")
    assert main(["docs", "add", "kb", "--embedder", "other", "--reembed", kb]) == 0
    capsys.readouterr()
    assert main(["drift", "check", "kb-search", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["identical"]
    summary = report["summary"]
    assert "document searches found other passages or scores (retrieval drift)" in summary
    assert "embedder of the collection 'kb'" in report["summary"]
    change = report["retrieval_changes"][0]
    assert change["collection"] == "kb" and change["query"] == "when is my money returned"
    assert Path(change["before"][0]["source"]).name == "refunds.md"
    parts = {d["part"]: d for d in report["environment"]}
    assert "b" * 64 in parts["docs_embedder kb"]["after"]
    assert "a" * 64 in parts["docs_embedder kb"]["before"]

    assert main(["drift", "check", "kb-search"]) == 1
    markdown = capsys.readouterr().out
    assert "## Document searches that found something else" in markdown
    assert "| 1 | refunds.md" in markdown


def test_a_retrieval_file_is_checked_line_by_line(
    embedders: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"collection": "kb", "query": "x", "top": 0}\n')
    assert main(["drift", "record", "bad", "--retrieval", str(bad)]) == 1
    assert 'The "top" of line 1 of bad.jsonl must be 1 to 50' in capsys.readouterr().err
    bad.write_text('{"query": "x"}\n')
    assert main(["drift", "record", "bad", "--retrieval", str(bad)]) == 1
    assert 'names no "collection"' in capsys.readouterr().err
    bad.write_text('{"collection": "nothing", "query": "x"}\n')
    assert main(["drift", "record", "bad", "--retrieval", str(bad)]) == 1
    assert "There is no collection named 'nothing'" in capsys.readouterr().err


def test_a_moved_similarity_alone_is_drift() -> None:
    item = RetrievalItem("r-1", "kb", "refunds")
    before = RetrievalAnswer("r-1", (RetrievedPassage("/a.md", 0, 9, 0.032, 0.91),))
    same = RetrievalAnswer("r-1", (RetrievedPassage("/a.md", 0, 9, 0.032, 0.91),))
    moved = RetrievalAnswer("r-1", (RetrievedPassage("/a.md", 0, 9, 0.032, 0.88),))
    other = RetrievalAnswer("r-1", (RetrievedPassage("/b.md", 0, 9, 0.032, 0.91),))
    assert change_of(item, before, same) is None
    scores = change_of(item, before, moved)
    assert scores is not None and scores.kind == "scores" and scores.first_difference == 0
    passages = change_of(item, before, other)
    assert passages is not None and passages.kind == "passages"
