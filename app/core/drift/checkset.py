"""Check sets: prompts and labelled texts whose recorded answers prove a model unchanged.

A check set is one JSON file, written canonically so that its sha256 names it (a
lockfile or a CI job can reference it by hash, and exporting copies the bytes as they
are). It holds:

- ``prompts``: chat prompts with an optional system prompt, answered greedily
  (temperature 0, repeat penalty 1, a fixed seed, at most ``max_tokens`` tokens);
- ``classify``: labelled texts (gold labels optional), a label set and a method;
- ``retrieval``: queries of document collections (:mod:`app.core.drift.retrieval`);
- ``recording``: what one model answered (token ids and text per prompt, the label
  distribution per text, the passages and scores per query) and the environment it
  answered in
  (:mod:`app.core.drift.environment`).

The settings that shape answers (``max_tokens``, ``seed``, ``tolerance``) are part of
the file, so a check replays exactly what was recorded.
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from app.core.classify.labels import LabelSet
from app.core.classify.table import read_all
from app.core.drift.environment import Environment
from app.core.drift.jsonl import json_lines
from app.core.drift.retrieval import RetrievalAnswer, RetrievalItem, item_from_json
from app.core.errors import DriftlessError

FORMAT = "driftless-check-set"
FORMAT_VERSION = 1
DEFAULT_MAX_TOKENS = 48
"""Enough for a reply's first sentences, which is where a change shows first; a check of
40 prompts then takes seconds on the starter."""
MAX_MAX_TOKENS = 1024
DEFAULT_SEED = 0
DEFAULT_TOLERANCE = 0.02
"""Largest change of any label's probability still counted as the same answer (with the
same winner). Bit-identical runs move nothing; 0.02 absorbs the rounding of a 16-bit
activation path without hiding a changed model (see the README's "Determinism")."""
MAX_ITEMS = 10_000
"""Prompts and texts in one check set, together."""
MAX_TEXT_CHARS = 100_000
"""The longest prompt, system prompt or labelled text."""
MAX_FILE_BYTES = 16_000_000
"""The largest check set file read (a lockfile stops at 1 MB): 10,000 prompts with their
48-token answers take about 10 MB."""


class CheckSetError(DriftlessError):
    """A check set, or a file it is made from, cannot be used."""


@dataclass(frozen=True)
class PromptItem:
    id: str
    prompt: str
    system: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "prompt": self.prompt}
        if self.system is not None:
            data["system"] = self.system
        return data


@dataclass(frozen=True)
class TextItem:
    id: str
    text: str
    gold: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.gold is not None:
            data["gold"] = self.gold
        return data


@dataclass(frozen=True)
class ClassifySpec:
    """Labelled texts and how they are classified."""

    label_set: LabelSet
    texts: tuple[TextItem, ...]
    method: str = "prompt"
    style: str = "plain"
    few_shot: bool = False
    calibrated: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "label_set": self.label_set.to_json(),
            "method": self.method,
            "style": self.style,
            "few_shot": self.few_shot,
            "calibrated": self.calibrated,
            "texts": [t.to_json() for t in self.texts],
        }


@dataclass(frozen=True)
class PromptAnswer:
    """One greedy reply: its token ids, each token's text, the whole text, why it ended."""

    id: str
    tokens: tuple[int, ...]
    pieces: tuple[str, ...]
    text: str
    finish: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tokens": list(self.tokens),
            "pieces": list(self.pieces),
            "text": self.text,
            "finish": self.finish,
        }


@dataclass(frozen=True)
class LabelAnswer:
    """One text's label distribution (label set order) and its winner."""

    id: str
    label: str
    probabilities: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "probabilities": list(self.probabilities)}


@dataclass(frozen=True)
class Recording:
    """What a model answered, and where."""

    recorded_at: str
    environment: Environment
    prompts: tuple[PromptAnswer, ...] = ()
    labels: tuple[LabelAnswer, ...] = ()
    retrieval: tuple[RetrievalAnswer, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = {
            "recorded_at": self.recorded_at,
            "environment": self.environment.to_json(),
            "prompts": [a.to_json() for a in self.prompts],
            "labels": [a.to_json() for a in self.labels],
        }
        if self.retrieval:  # absent when none: older check sets keep their bytes
            data["retrieval"] = [a.to_json() for a in self.retrieval]
        return data


@dataclass(frozen=True)
class CheckSet:
    name: str
    prompts: tuple[PromptItem, ...] = ()
    classify: ClassifySpec | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    seed: int = DEFAULT_SEED
    tolerance: float = DEFAULT_TOLERANCE
    created_at: str = ""
    recording: Recording | None = field(default=None)
    retrieval: tuple[RetrievalItem, ...] = ()

    def __post_init__(self) -> None:
        texts = self.classify.texts if self.classify is not None else ()
        if not self.prompts and not texts and not self.retrieval:
            raise CheckSetError(
                f"The check set '{self.name}' has nothing to check: give it prompts "
                "(--prompts FILE.jsonl), labelled texts (--classify FILE.csv) or queries "
                "of document collections (--retrieval FILE.jsonl)."
            )
        if not 1 <= self.max_tokens <= MAX_MAX_TOKENS:
            raise CheckSetError(
                f"max_tokens must be between 1 and {MAX_MAX_TOKENS}, not {self.max_tokens}."
            )
        if not 0 <= self.tolerance < 1:
            raise CheckSetError(f"The tolerance must be between 0 and 1, not {self.tolerance}.")

    @property
    def size(self) -> int:
        texts = len(self.classify.texts) if self.classify else 0
        return len(self.prompts) + texts + len(self.retrieval)

    def recorded(self, recording: Recording) -> CheckSet:
        return replace(self, recording=recording)

    def definition_json(self) -> dict[str, Any]:
        """What is asked, without what was answered."""
        return {
            "name": self.name,
            "settings": {
                "max_tokens": self.max_tokens,
                "seed": self.seed,
                "temperature": 0.0,
                "repeat_penalty": 1.0,
                "tolerance": self.tolerance,
            },
            "prompts": [p.to_json() for p in self.prompts],
            "classify": self.classify.to_json() if self.classify else None,
            **({"retrieval": [r.to_json() for r in self.retrieval]} if self.retrieval else {}),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at,
            **self.definition_json(),
            "recording": self.recording.to_json() if self.recording else None,
        }

    def to_bytes(self) -> bytes:
        """The canonical file: the same check set always gives the same bytes (and hash)."""
        text = json.dumps(self.to_json(), indent=1, sort_keys=True, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_json(cls, data: Any, *, source: str = "the check set") -> CheckSet:
        return _parse(data, source)


_Item = TypeVar("_Item", PromptItem, TextItem)


# --- items from files --------------------------------------------------------------------


def item_id(kind: str, *parts: str | None) -> str:
    """A short id from an item's content, so two files with the same item agree on it."""
    digest = hashlib.sha256(json.dumps([kind, *parts], ensure_ascii=False).encode()).hexdigest()
    return f"{kind[0]}-{digest[:10]}"


def read_prompts(path: Path) -> tuple[PromptItem, ...]:
    """``{"prompt": ..., "system": ...}`` one JSON object a line; blank lines are skipped."""
    items: list[PromptItem] = []
    example = '{"prompt": "Name three colours.", "system": "Be brief."}'
    for number, data in json_lines(path, "prompts", example, CheckSetError):
        prompt = data.get("prompt") if isinstance(data, dict) else None
        system = data.get("system") if isinstance(data, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise CheckSetError(f'Line {number} of {Path(path).name} has no "prompt" text.')
        if system is not None and not isinstance(system, str):
            raise CheckSetError(f'The "system" of line {number} of {Path(path).name} is not text.')
        items.append(PromptItem(item_id("prompt", system, prompt), prompt, system))
    if not items:
        raise CheckSetError(f"{Path(path).name} holds no prompts.")
    return _unique(items, path)


def read_texts(
    path: Path, *, text_column: str | None = None, label_column: str | None = None
) -> tuple[TextItem, ...]:
    """Texts (and gold labels when the file has a label column) from a CSV/TSV file."""
    table = read_all(path, text_column, label_column)
    items = [TextItem(item_id("text", row.text), row.text, row.gold or None) for row in table.rows]
    return _unique(items, path)


def _unique(items: Sequence[_Item], path: Path) -> tuple[_Item, ...]:
    seen: dict[str, _Item] = {}
    for item in items:
        seen.setdefault(item.id, item)  # a repeated item would only be checked twice
    if len(seen) > MAX_ITEMS:
        raise CheckSetError(f"{Path(path).name} has {len(seen):,} items; at most {MAX_ITEMS:,}.")
    return tuple(seen.values())


# --- parsing ---------------------------------------------------------------------------------

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise CheckSetError(
            f"'{name}' cannot name a check set: use letters, digits, '.', '_' or '-' "
            "(up to 64), starting with a letter or digit."
        )
    return name


def _parse(data: Any, source: str) -> CheckSet:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise CheckSetError(f"{source} is not a Driftless check set.")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckSetError(
            f"{source} uses check-set format {data.get('format_version')}; this Driftless "
            f"reads format {FORMAT_VERSION}. Update Driftless."
        )
    try:
        settings = data["settings"]
        prompts = tuple(
            PromptItem(str(p["id"]), str(p["prompt"]), p.get("system")) for p in data["prompts"]
        )
        classify = None
        if data.get("classify"):
            c = data["classify"]
            classify = ClassifySpec(
                label_set=LabelSet.from_json(c["label_set"], source=f"the label set of {source}"),
                texts=tuple(
                    TextItem(str(t["id"]), str(t["text"]), t.get("gold")) for t in c["texts"]
                ),
                method=str(c.get("method", "prompt")),
                style=str(c.get("style", "plain")),
                few_shot=bool(c.get("few_shot", False)),
                calibrated=bool(c.get("calibrated", True)),
            )
        recording = None
        if data.get("recording"):
            r = data["recording"]
            recording = Recording(
                recorded_at=str(r["recorded_at"]),
                environment=Environment.from_json(r["environment"]),
                prompts=tuple(
                    PromptAnswer(
                        str(a["id"]),
                        tuple(int(t) for t in a["tokens"]),
                        tuple(str(p) for p in a["pieces"]),
                        str(a["text"]),
                        str(a["finish"]),
                    )
                    for a in r["prompts"]
                ),
                labels=tuple(
                    LabelAnswer(
                        str(a["id"]), str(a["label"]), tuple(float(p) for p in a["probabilities"])
                    )
                    for a in r["labels"]
                ),
                retrieval=tuple(RetrievalAnswer.from_json(a) for a in r.get("retrieval", ())),
            )
        retrieval = tuple(item_from_json(q) for q in data.get("retrieval", ()))
        _check_items(prompts, classify, recording, source, retrieval)
        return CheckSet(
            name=check_name(str(data["name"])),
            prompts=prompts,
            classify=classify,
            max_tokens=int(settings["max_tokens"]),
            seed=int(settings["seed"]),
            tolerance=float(settings["tolerance"]),
            created_at=str(data.get("created_at", "")),
            recording=recording,
            retrieval=retrieval,
        )
    except CheckSetError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckSetError(
            f"{source} is damaged or was edited by hand ({type(exc).__name__}: {exc}). "
            "Export it again from where it was recorded."
        ) from exc


def _check_items(
    prompts: Sequence[PromptItem],
    classify: ClassifySpec | None,
    recording: Recording | None,
    source: str,
    retrieval: Sequence[RetrievalItem] = (),
) -> None:
    """Counts, text sizes, unique ids, and a recording that answers exactly the items."""
    texts = classify.texts if classify else ()
    if len(prompts) + len(texts) + len(retrieval) > MAX_ITEMS:
        raise CheckSetError(
            f"{source} has {len(prompts) + len(texts):,} prompts and texts; a check set holds "
            f"at most {MAX_ITEMS:,}."
        )
    for kind, ids, strings in (
        ("prompt", [p.id for p in prompts], [s for p in prompts for s in (p.prompt, p.system)]),
        ("text", [t.id for t in texts], [t.text for t in texts]),
        ("query", [q.id for q in retrieval], [q.query for q in retrieval]),
    ):
        if any(isinstance(x, str) and len(x) > MAX_TEXT_CHARS for x in strings):
            raise CheckSetError(f"{source} has a {kind} longer than {MAX_TEXT_CHARS:,} characters.")
        repeated = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
        if repeated:
            raise CheckSetError(
                f"{source} has two {kind}s with the id '{repeated[0]}'; each id must be unique "
                "(answers are matched by id)."
            )
    if recording is None:
        return
    for kind, asked, answered in (
        ("prompt", [p.id for p in prompts], [a.id for a in recording.prompts]),
        ("text", [t.id for t in texts], [a.id for a in recording.labels]),
        ("query", [q.id for q in retrieval], [a.id for a in recording.retrieval]),
    ):
        if sorted(asked) != sorted(answered):
            raise CheckSetError(
                f"{source} is damaged or was edited by hand: its recorded {kind} answers do "
                f"not match its {kind}s. Export it again from where it was recorded."
            )
