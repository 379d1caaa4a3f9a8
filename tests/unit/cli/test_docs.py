"""``driftless docs`` and ``driftless chat --docs``, on a fake embedder and scripted engine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app.cli import docs as docs_cmd
from app.cli import main
from tests.fake_engine import FakeEngine
from tests.unit.docs.fakes import HashEmbedder


@pytest.fixture
def embedders(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every embedder opened gets the fake; 'other' stands for another model."""
    opened: list[str | None] = []

    def factory(store: object) -> object:
        def open_embedder(ref: str | None) -> HashEmbedder:
            opened.append(ref)
            return HashEmbedder(sha256=("b" if ref == "other" else "a") * 64)

        return open_embedder

    monkeypatch.setattr(docs_cmd, "embedder_factory", factory)
    return opened


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    (root / "refunds.md").write_text("# Refunds\n\nMoney is returned within 14 days.\n")
    (root / "shipping.txt").write_text("Parcels go by post and arrive in three days.\n")
    (root / "empty.txt").write_text("")
    (root / "photo.png").write_bytes(b"\x89PNG")
    return root


def test_add_list_search_refresh_remove(
    embedders: list[str | None], folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["docs", "add", "kb", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert f"Skipped {folder / 'empty.txt'}: the file is empty." in err
    assert "Passed over 1 files of types Driftless does not read." in err
    assert "kb: read 2 files into 2 passages" in err

    assert main(["docs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["collections"]
    assert [(c["name"], c["files"], c["skipped"]) for c in listed] == [("kb", 2, 1)]
    assert listed[0]["embedder"]["sha256"] == "a" * 64 and listed[0]["roots"] == [str(folder)]

    assert main(["docs", "search", "kb", "when", "do", "parcels", "arrive", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    hit = answer["hits"][0]
    assert set(hit) >= {"source", "page", "start", "end", "score", "text"}
    assert hit["source"] == str(folder / "shipping.txt") and hit["page"] is None
    assert hit["text"] == (folder / "shipping.txt").read_text()[hit["start"] : hit["end"]]
    assert answer["embedder"]["lock_id"] == "sha256:" + "a" * 64 + "/fake.gguf"

    (folder / "shipping.txt").write_text("Parcels now go by courier.\n")
    assert main(["docs", "refresh", "kb"]) == 0
    assert "kb: read 1 files into 1 passages" in capsys.readouterr().err

    assert main(["docs", "remove", "kb"]) == 0
    assert main(["docs", "search", "kb", "x"]) == 1
    assert "There is no collection named 'kb'" in capsys.readouterr().err


def test_another_embedder_is_refused_without_reembed(
    embedders: list[str | None], folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["docs", "add", "kb", str(folder)]) == 0
    capsys.readouterr()
    assert main(["docs", "add", "kb", str(folder), "--embedder", "other"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("driftless: The collection 'kb' was embedded with fake-aaaa")
    assert "--reembed" in err
    assert main(["docs", "add", "kb", str(folder), "--embedder", "other", "--reembed"]) == 0
    assert "Embedded 2 passages again." in capsys.readouterr().err


@pytest.fixture
def indexed(embedders: list[str | None], folder: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["docs", "add", "kb", str(folder)]) == 0
    capsys.readouterr()
    return folder


def chat(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    code = main(["chat", "--no-save", "--docs", "kb", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_chat_answers_from_docs_with_sources(
    indexed: Path, fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = chat(capsys, "--max-tokens", "3", "How long do refunds take?")
    assert "Answering from 2 of the 2 passages found in kb." in err
    assert out.startswith("Hello! How can\n")
    assert f"Sources:\n[1] {indexed / 'refunds.md'}, line 1\n" in out
    prompt = fake.requests[0].messages[0]
    assert prompt.role == "system" and "[1] refunds.md, line 1 (Refunds)" in prompt.content
    assert "like [1] or [2]" in prompt.content


def test_chat_docs_fits_what_the_context_holds(
    indexed: Path, fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = chat(capsys, "--context", "100", "--max-tokens", "30", "refunds?")
    assert "Answering from 1 of the 2 passages found in kb (the others did not fit" in err
    assert out.count("\n[") == 1


def test_chat_docs_needs_a_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--docs", "kb"]) == 1
    assert "--docs answers one PROMPT" in capsys.readouterr().err


def test_echo_is_asked_for_recorded_and_never_switched_without_reembed(
    monkeypatch: pytest.MonkeyPatch, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[bool | None] = []

    def factory(store: object, echo: bool | None = None) -> object:
        def open_embedder(ref: str | None) -> HashEmbedder:
            asked.append(echo)
            fake = HashEmbedder(sha256="c" * 64)  # a chat model, pooled at a layer
            fake.info = dataclasses.replace(fake.info, layer=6, echo=bool(echo))
            return fake

        return open_embedder

    monkeypatch.setattr(docs_cmd, "embedder_factory", factory)
    assert main(["docs", "add", "kb", str(folder), "--echo", "on"]) == 0
    capsys.readouterr()
    assert main(["docs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["collections"][0]["embedder"]["echo"] is True
    assert asked == [True]

    # Nothing changed, so no embedder would be opened: still refused, by what was recorded.
    assert main(["docs", "add", "kb", str(folder), "--echo", "off"]) == 1
    err = capsys.readouterr().err
    assert "'kb' was embedded with echo" in err and "--reembed" in err
    assert main(["docs", "add", "kb", str(folder)]) == 0, "as recorded when not asked"
    capsys.readouterr()
    assert main(["docs", "add", "kb", str(folder), "--echo", "off", "--reembed"]) == 0
    assert "Embedded 2 passages again." in capsys.readouterr().err
    assert main(["docs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["collections"][0]["embedder"]["echo"] is False
