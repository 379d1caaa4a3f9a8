"""Label sets: a name, an instruction, and labels with descriptions and example texts.

A label set is an immutable value. Saving one into the library makes a new numbered
version when its content changed (versions are never rewritten), so every result can
name the exact version that produced it. Built-in templates (sentiment, intent,
ticket routing, spam) ship as JSON files in ``resources/label_sets``; a user copies
one by saving it under a name of their own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core.classify.errors import LabelSetError
from app.core.resources import resource_path

SCHEMA = 1
MAX_LABELS = 200
MAX_NAME_CHARS = 80
DEFAULT_INSTRUCTION = "Classify the text. Answer with one of the labels."
BUILTIN_DIR = resource_path("label_sets")


@dataclass(frozen=True)
class Label:
    """One answer the classifier can give."""

    name: str
    description: str = ""
    examples: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.description:
            data["description"] = self.description
        if self.examples:
            data["examples"] = list(self.examples)
        return data


@dataclass(frozen=True)
class LabelSet:
    """A named set of labels and the instruction the model is given.

    ``version`` is 0 until the set is saved in a :class:`LabelSetLibrary`; ``key``
    (a hash of the content) tells two unsaved sets apart.
    """

    name: str
    instruction: str
    labels: tuple[Label, ...]
    version: int = 0
    builtin: bool = False
    saved_at: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _validate(self)

    # -- identity --

    @property
    def key(self) -> str:
        """A short hash of what the model sees: instruction, labels, descriptions, examples."""
        canonical = json.dumps(self.content_json(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

    @property
    def version_id(self) -> str:
        """What results record: ``sentiment@v3`` once saved, else ``sentiment#<key>``."""
        if self.version:
            return f"{self.name}@v{self.version}"
        return f"{self.name}#{self.key}"

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def has_examples(self) -> bool:
        return any(label.examples for label in self.labels)

    def index_of(self, value: str) -> int | None:
        """The label called ``value``, matched case-insensitively and ignoring spaces."""
        wanted = _fold(value)
        for i, label in enumerate(self.labels):
            if _fold(label.name) == wanted:
                return i
        return None

    # -- editing (returns new values) --

    def renamed(self, name: str) -> LabelSet:
        return replace(self, name=name, version=0, builtin=False, saved_at=None)

    def edited(
        self, *, instruction: str | None = None, labels: Sequence[Label] | None = None
    ) -> LabelSet:
        return replace(
            self,
            instruction=self.instruction if instruction is None else instruction,
            labels=self.labels if labels is None else tuple(labels),
            version=0,
            builtin=False,
            saved_at=None,
        )

    # -- JSON --

    def content_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "instruction": self.instruction,
            "labels": [label.to_json() for label in self.labels],
        }

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": SCHEMA, **self.content_json()}
        if self.version:
            data["version"] = self.version
        if self.saved_at:
            data["saved_at"] = self.saved_at
        return data

    @classmethod
    def from_json(cls, data: Any, *, source: str = "the label set") -> LabelSet:
        if not isinstance(data, Mapping):
            raise LabelSetError(f"{source} is not a JSON object with a name and labels.")
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise LabelSetError(
                f"{source} uses label-set format {schema}; this Driftless reads format "
                f"{SCHEMA}. Update Driftless."
            )
        raw_labels = data.get("labels")
        if not isinstance(raw_labels, list):
            raise LabelSetError(f"{source} has no list of labels.")
        labels = []
        for i, item in enumerate(raw_labels, start=1):
            if isinstance(item, str):
                labels.append(Label(item))
                continue
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise LabelSetError(f"Label {i} in {source} has no name.")
            examples = item.get("examples", [])
            if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
                raise LabelSetError(f"The examples of label '{item['name']}' must be texts.")
            description = item.get("description", "")
            if not isinstance(description, str):
                raise LabelSetError(f"The description of label '{item['name']}' must be text.")
            labels.append(Label(item["name"].strip(), description.strip(), tuple(examples)))
        name = data.get("name")
        instruction = data.get("instruction", DEFAULT_INSTRUCTION)
        version = data.get("version", 0)
        if not isinstance(name, str) or not isinstance(instruction, str):
            raise LabelSetError(f"{source} needs a name and an instruction, as text.")
        if not isinstance(version, int) or version < 0:
            raise LabelSetError(f"{source} has an invalid version number.")
        saved_at = data.get("saved_at")
        return cls(
            name=name.strip(),
            instruction=instruction.strip(),
            labels=tuple(labels),
            version=version,
            saved_at=saved_at if isinstance(saved_at, str) else None,
        )

    @classmethod
    def from_names(
        cls, names: str | Sequence[str], *, instruction: str = DEFAULT_INSTRUCTION
    ) -> LabelSet:
        """An unsaved set from ``"a,b,c"`` (the command line's ``--labels``)."""
        items = names.split(",") if isinstance(names, str) else list(names)
        cleaned = [item.strip() for item in items if item.strip()]
        return cls(
            name="labels",
            instruction=instruction,
            labels=tuple(Label(n) for n in cleaned),
        )


def _fold(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).casefold()


def _validate(label_set: LabelSet) -> None:
    name = label_set.name
    if not name or len(name) > MAX_NAME_CHARS or "\n" in name:
        raise LabelSetError(
            f"A label set needs a name of 1 to {MAX_NAME_CHARS} characters on one line."
        )
    if not label_set.instruction:
        raise LabelSetError(f"The label set '{name}' needs an instruction for the model.")
    if len(label_set.labels) < 2:
        raise LabelSetError(f"The label set '{name}' needs at least two labels.")
    if len(label_set.labels) > MAX_LABELS:
        raise LabelSetError(
            f"The label set '{name}' has {len(label_set.labels)} labels; at most "
            f"{MAX_LABELS} are supported."
        )
    seen: dict[str, str] = {}
    for label in label_set.labels:
        if not label.name or "\n" in label.name or len(label.name) > MAX_NAME_CHARS:
            raise LabelSetError(
                f"Every label in '{name}' needs a name of 1 to {MAX_NAME_CHARS} characters "
                "on one line."
            )
        folded = _fold(label.name)
        if folded in seen:
            raise LabelSetError(
                f"The labels '{seen[folded]}' and '{label.name}' in '{name}' are the same "
                "name (case and spaces are ignored). Rename one."
            )
        seen[folded] = label.name


def slug(name: str) -> str:
    """A folder name for a label set name."""
    text = re.sub(r"[^a-z0-9_]+", "-", name.casefold()).strip("-")
    return text or "label-set"


def load_builtins(folder: Path = BUILTIN_DIR) -> list[LabelSet]:
    """The templates shipped with Driftless, sorted by name."""
    sets = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        label_set = LabelSet.from_json(data, source=path.name)
        sets.append(replace(label_set, builtin=True))
    return sets
