"""The prompt a label set becomes: a shared prefix, the text, a suffix, then each label.

Two styles. ``chat`` renders the model's own chat template (in the sandbox the engine
uses): the instruction and the labels as the system message, few-shot examples as
earlier turns, the text as the user's message, the label as the assistant's answer.
``plain`` is a completion prompt (``Text: ...`` / ``Label: positive``), which small
models often score better. Either way the part before the text is identical for
every text, so it is evaluated once.

The text goes in as tokens of its own (special markers in it are not parsed), so a
text cannot end the user's turn early or pose as the assistant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.core.classify.labels import LabelSet
from app.core.runtime.template import ChatTemplate, assistant, system, user

PromptStyle = Literal["chat", "plain"]
SENTINEL = "\u241etext\u241e"
MAX_SHOTS_PER_LABEL = 4
MAX_SHOTS = 24
MAX_SHOT_CHARS = 400


@dataclass(frozen=True)
class PromptParts:
    """Texts around the input: ``prefix + text + suffix + label``."""

    prefix: str
    suffix: str
    label_texts: tuple[str, ...]
    end_marker: str
    """Scored after a label when one label's tokens begin another's (``card`` vs ``card fee``)."""


def label_text(name: str) -> str:
    """How a label is written for the model: ``card_arrival`` reads ``card arrival``."""
    return " ".join(name.replace("_", " ").split())


def describe_labels(label_set: LabelSet) -> str:
    lines = []
    for label in label_set.labels:
        text = label_text(label.name)
        lines.append(f"- {text}: {label.description}" if label.description else f"- {text}")
    return "\n".join(lines)


def shots(label_set: LabelSet) -> list[tuple[str, str]]:
    """Few-shot (text, label) pairs, taking labels in turn so none comes first in a row."""
    queues = [
        [
            (example.strip()[:MAX_SHOT_CHARS], label.name)
            for example in label.examples[:MAX_SHOTS_PER_LABEL]
        ]
        for label in label_set.labels
    ]
    ordered: list[tuple[str, str]] = []
    depth = max((len(q) for q in queues), default=0)
    for i in range(depth):
        for queue in queues:
            if i < len(queue) and queue[i][0]:
                ordered.append(queue[i])
    return ordered[:MAX_SHOTS]


def build_prompt(
    label_set: LabelSet,
    template: ChatTemplate | None,
    *,
    style: PromptStyle,
    few_shot: bool,
) -> PromptParts:
    """The prompt's fixed parts for ``label_set``."""
    examples = shots(label_set) if few_shot else []
    names = [label_text(n) for n in label_set.label_names]
    if style == "plain" or template is None:
        header = (
            f"{label_set.instruction}\n"
            f"Labels: {', '.join(names)}.\n"
            + (f"{describe_labels(label_set)}\n" if _has_descriptions(label_set) else "")
            + "\n"
        )
        body = "".join(f"Text: {_one_line(t)}\nLabel: {label_text(n)}\n\n" for t, n in examples)
        return PromptParts(
            prefix=header + body + "Text: ",
            suffix="\nLabel:",
            label_texts=tuple(" " + n for n in names),
            end_marker="\n",
        )
    system_text = (
        f"{label_set.instruction}\nAnswer with one of these labels only:\n"
        f"{describe_labels(label_set)}"
    )
    messages = [system(system_text)]
    for text, name in examples:
        messages += [user(text), assistant(label_text(name))]
    messages.append(user(SENTINEL))
    rendered = template.render(messages, add_generation_prompt=True).text
    prefix, found, suffix = rendered.partition(SENTINEL)
    if not found:  # a template that rewrites the text: fall back to the plain style
        return build_prompt(label_set, None, style="plain", few_shot=few_shot)
    end = template.eos_token or "\n"
    if "<|im_end|>" in rendered:
        end = "<|im_end|>"
    return PromptParts(prefix=prefix, suffix=suffix, label_texts=tuple(names), end_marker=end)


def _has_descriptions(label_set: LabelSet) -> bool:
    return any(label.description for label in label_set.labels)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def needs_end_marker(paths: Sequence[Sequence[int]]) -> bool:
    """True when one label's tokens are a prefix of another's, so the end must be scored."""
    as_tuples = [tuple(p) for p in paths]
    for i, a in enumerate(as_tuples):
        for j, b in enumerate(as_tuples):
            if i != j and len(a) <= len(b) and b[: len(a)] == a:
                return True
    return False
