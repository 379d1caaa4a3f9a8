"""Readers, passages and the folder walk, on good files and on hostile ones built here."""

from __future__ import annotations

import io
import itertools
import os
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter

from app.core.docs.passages import Chunking, split_document
from app.core.docs.readers import Unreadable, decode_text, read_document
from app.core.docs.walk import find_files


def read(path: Path) -> object:
    return read_document(path, path.read_bytes())


def test_markdown_passages_follow_headings_and_keep_spans(tmp_path: Path) -> None:
    body = "\n\n".join(f"Paragraph {i} about refunds and returns. " * 6 for i in range(8))
    path = tmp_path / "policy.md"
    path.write_text(
        f"# Policy\n\nIntro line here.\n\n## Refunds\n\n{body}\n\n## Shipping\n\nBy post."
    )
    document = read_document(path, path.read_bytes())
    assert document.title == "Policy"
    passages = split_document(document, Chunking(target=600, limit=900, overlap=300))
    text = document.pages[0].text
    assert all(text[p.start : p.end] == p.text for p in passages)
    assert next(p.heading for p in passages) == "Policy"
    assert passages[-1].heading == "Shipping" and passages[-1].text.startswith("## Shipping")
    refunds = [p for p in passages if p.heading == "Refunds"]
    assert len(refunds) >= 3
    assert all(len(p.text) <= 900 for p in passages)
    # consecutive passages of a section overlap (a short last paragraph is repeated)
    assert any(a.end > b.start for a, b in itertools.pairwise(refunds))
    # the short first section shares its passage with the next
    assert "Intro line here.\n\n## Refunds" in passages[0].text
    assert passages[1].line == 9


def test_long_paragraph_is_cut_at_sentences_with_overlap(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"Sentence number {i} goes here." for i in range(300)))
    passages = split_document(read_document(path, path.read_bytes()))
    assert len(passages) > 5
    assert all(len(p.text) <= Chunking().limit for p in passages)
    assert all(a.end > b.start for a, b in itertools.pairwise(passages))


def test_html_drops_scripts_and_styles(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Help &amp; FAQ</title><style>p { color: red }</style></head>"
        "<body><script>alert('x')</script><h2>Returns</h2><p>Send it back within "
        "30&nbsp;days.</p><noscript>enable js</noscript></body></html>"
    )
    document = read_document(path, path.read_bytes())
    text = document.pages[0].text
    assert document.title == "Help & FAQ"
    assert "alert" not in text and "color" not in text and "enable js" not in text
    assert "Send it back within 30 days." in text
    assert [text[s:e] for s, e in document.pages[0].headings] == ["Returns"]


def test_pdf_pages_and_docx_headings(tmp_path: Path) -> None:
    pdf = tmp_path / "blank.pdf"
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    with pdf.open("wb") as out:
        writer.write(out)
    with pytest.raises(Unreadable, match="no text"):
        read(pdf)
    path = tmp_path / "guide.docx"
    made = docx.Document()
    made.add_heading("Warranty", level=1)
    made.add_paragraph("Two years on every part.")
    made.save(str(path))
    document = read_document(path, path.read_bytes())
    text = document.pages[0].text
    assert [text[s:e] for s, e in document.pages[0].headings] == ["Warranty"]
    assert split_document(document)[0].heading == "Warranty"


def test_encrypted_and_broken_pdfs_are_skipped_with_a_reason(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    encrypted = tmp_path / "locked.pdf"
    with encrypted.open("wb") as out:
        writer.write(out)
    with pytest.raises(Unreadable, match="encrypted"):
        read(encrypted)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ntrailer<<>>\n%%EOF")
    with pytest.raises(Unreadable, match="PDF"):
        read(broken)
    truncated = tmp_path / "cut.pdf"
    truncated.write_bytes(encrypted.read_bytes()[:300])
    with pytest.raises(Unreadable):
        read(truncated)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("spaces.md", b"  \n\n ", "empty"),
        ("binary.txt", bytes(range(256)) * 8, "binary"),
        ("fake.docx", b"not a zip at all", "not a .docx"),
        ("photo.jpg", b"\xff\xd8\xff", "not a supported type"),
    ],
)
def test_bad_files_are_unreadable(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(Unreadable, match=reason):
        read(path)


def test_docx_zip_bomb_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (130 * 1024 * 1024))
    path = tmp_path / "bomb.docx"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(Unreadable, match="unpack"):
        read(path)


def test_encodings_are_detected_or_named() -> None:
    assert decode_text("café".encode()) == ("café", "utf-8")
    assert decode_text("café".encode("utf-16")) == ("café", "utf-16")
    assert decode_text("naïve façade".encode("cp1252")) == ("naïve façade", "windows-1252")
    assert decode_text("plain".encode("utf-16-le")) == ("plain", "utf-16-le")
    with pytest.raises(Unreadable, match="binary"):
        decode_text(b"\x01\x02\x03\x00\x05" * 100)


def test_walk_skips_loops_unreadable_and_broken_links_and_is_bounded(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.txt").write_text("one")
    (root / "a" / "loop").symlink_to(root)
    (root / "self").symlink_to(root / "self")
    (root / "gone.md").symlink_to(root / "missing.md")
    (root / "picture.png").write_bytes(b"png")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD.txt").write_text("hidden")
    locked = root / "locked"
    locked.mkdir()
    (locked / "secret.txt").write_text("x")
    locked.chmod(0)
    try:
        found = find_files([root])
    finally:
        locked.chmod(0o700)
    root_user = os.geteuid() == 0  # root reads a 0000 folder anyway
    assert [p.name for p in found.files] == ["one.txt"] + (["secret.txt"] if root_user else [])
    reasons = {Path(s.path).name: s.reason for s in found.skipped}
    assert "loop" in reasons["loop"]
    assert reasons["gone.md"] == "a broken link"
    if not root_user:
        assert "permission denied" in reasons["locked"]
    assert found.unsupported == 1

    many = tmp_path / "many"
    many.mkdir()
    for i in range(60):
        (many / f"{i:03}.txt").write_text("x")
    bounded = find_files([many], max_files=25)
    assert len(bounded.files) == 25 and bounded.files[0].name == "000.txt"
    assert bounded.truncated is not None and "25" in bounded.truncated
