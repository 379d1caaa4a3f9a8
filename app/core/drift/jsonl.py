"""Check-set items written one JSON object a line (prompts, retrieval queries)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core.errors import DriftlessError


def json_lines(
    path: Path, what: str, example: str, error: type[DriftlessError]
) -> Iterator[tuple[int, Any]]:
    """Each line of ``path`` that is not blank, parsed, with its number. A file that cannot
    be read, or a line that is not JSON, raises ``error`` in a sentence naming ``what`` file
    it is ("prompts") or showing ``example``, one line as it should be written."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"The {what} file {path} cannot be read: {exc}.") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(
                f"Line {number} of {Path(path).name} is not JSON ({exc.msg}): write one object "
                f"a line, like {example}."
            ) from exc
        yield number, data
