"""Atomic writes, hashing and path safety."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.core import fsutil


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    fsutil.atomic_write_text(target, "old")
    fsutil.atomic_write_text(target, "new", mode=0o600)
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_write_failure_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.txt"
    fsutil.atomic_write_text(target, "old")

    def fail(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", fail)
    with pytest.raises(OSError):
        fsutil.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_sha256_file_matches_hashlib_and_reports_progress(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000
    path = tmp_path / "blob"
    path.write_bytes(data)
    seen: list[tuple[int, int]] = []
    assert (
        fsutil.sha256_file(path, lambda d, t: seen.append((d, t)))
        == hashlib.sha256(data).hexdigest()
    )
    assert seen[-1] == (len(data), len(data))


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("model.gguf", True),
        ("Q4_K_M/model.gguf", True),
        ("../model.gguf", False),
        ("a/../../b.gguf", False),
        ("/etc/passwd", False),
        ("C:model.gguf", False),
        ("a\\..\\b", False),
        ("", False),
        ("a//b", False),
        ("nul\x00.gguf", False),
    ],
)
def test_is_safe_relative_path(name: str, safe: bool) -> None:
    assert fsutil.is_safe_relative_path(name) is safe


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("What is the capital of France?", "What is the capital of France"),
        ('a/b\\c:d*e"f<g>h|i', "a b c d e f g h i"),
        ("  ...dots and spaces...  ", "dots and spaces"),
        ("tab\tand\nnewline", "tab and newline"),
        ("CON", "conversation"),
        ("???", "conversation"),
        ("x" * 200, "x" * 80),
        ("Überweisung 退款", "Überweisung 退款"),
    ],
)
def test_safe_file_name(title: str, name: str) -> None:
    assert fsutil.safe_file_name(title, "conversation") == name


def test_private_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    import stat

    old = os.umask(0)
    try:
        with fsutil.open_private(tmp_path / "new") as handle:
            handle.write(b"x")
        fsutil.create_private(tmp_path / "empty")
        with fsutil.open_private(tmp_path / "log", "ab") as handle:
            handle.write(b"y")
        fsutil.atomic_write_bytes(tmp_path / "atomic", b"z")
    finally:
        os.umask(old)
    for name in ("new", "empty", "log", "atomic"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    with pytest.raises(FileExistsError):
        fsutil.open_private(tmp_path / "new")
    fsutil.create_private(tmp_path / "new")  # exists: left as it is
    assert (tmp_path / "new").read_bytes() == b"x"
