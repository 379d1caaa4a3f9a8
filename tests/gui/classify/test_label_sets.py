"""Label sets made from a file: a column's values, or many names pasted at once."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from app.core.classify import choose_columns, sniff
from app.core.classify.labels import LabelSet
from app.ui.classify.dialogs import LabelSetDialog, PasteLabelsDialog
from app.ui.classify.options import ColumnsDialog

INTENTS = [f"intent_{i}" for i in range(77)]


def test_a_label_set_is_made_from_the_gold_columns_values(qtbot: QtBot, tmp_path: Path) -> None:
    source = tmp_path / "banking.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows((f"question {i}", INTENTS[i % 77]) for i in range(770))
    sentiment = LabelSet.from_names("negative,positive")
    dialog = ColumnsDialog(choose_columns(sniff(source)), need_gold=True, label_set=sentiment)
    qtbot.addWidget(dialog)
    assert not dialog.make_labels_button.isHidden()
    qtbot.waitUntil(lambda: not dialog.counting)
    assert dialog.make_labels_button.isEnabled()
    with qtbot.waitSignal(dialog.label_set_made) as blocker:
        dialog.make_labels_button.click()
    made = blocker.args[0]
    assert made.name == "banking-category"
    assert sorted(made.label_names) == sorted(INTENTS)
    assert "77 labels: intent_0 (10)" in dialog.error_label.text()
    # Every value now is a label name: nothing to map, the picker accepts.
    assert dialog.gold_editor.problem() is None
    assert dialog.gold_editor.gold_map() is None or all(
        label is not None for _, label in dialog.gold_editor.gold_map().pairs
    )


def test_many_labels_are_pasted_into_the_editor_at_once(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialog = LabelSetDialog(LabelSet.from_names("intent_0,other"))
    qtbot.addWidget(dialog)
    pasted = "\n".join(INTENTS) + "\n\nrefund_request\tthe customer wants money back\n"
    monkeypatch.setattr(PasteLabelsDialog, "ask", classmethod(lambda cls, parent: pasted))
    buttons = [b for b in dialog.findChildren(QPushButton) if b.text() == "Paste labels…"]
    buttons[0].click()
    edited = dialog.edited()
    assert edited.label_names == ("intent_0", "other", *INTENTS[1:], "refund_request")
    assert edited.labels[-1].description == "the customer wants money back"
    assert "Added 77 label(s)." in dialog.error_label.text()

    # Ctrl+V on the table: the clipboard's comma-separated line adds what is new.
    QGuiApplication.clipboard().setText("intent_1, spam, ham")
    dialog._on_paste_shortcut_activated()
    assert dialog.edited().label_names[-2:] == ("spam", "ham")
