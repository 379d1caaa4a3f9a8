"""Behaviour check reports on the Models page: the Markdown report, and the update review.

:class:`BehaviourPrompts` holds the two questions as classmethods so that a test replaces
them (``monkeypatch.setattr(BehaviourPrompts, "review_update", ...)``) instead of driving
a modal dialog.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.drift.versions import VersionComparison


class ReportDialog(QDialog):
    """A summary above the whole Markdown report (rendered, never as HTML from the file)."""

    def __init__(
        self, title: str, summary: str, markdown: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(760, 560)
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.setMarkdown(markdown)
        self.browser.setAccessibleName("Behaviour report")
        self.buttons = QDialogButtonBox()
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.browser, 1)
        layout.addWidget(self.buttons)


class BehaviourPrompts:
    @classmethod
    def show_report(cls, parent: QWidget | None, title: str, summary: str, markdown: str) -> None:
        dialog = ReportDialog(title, summary, markdown, parent)
        dialog.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        dialog.buttons.rejected.connect(dialog.reject)
        dialog.exec()

    @classmethod
    def review_update(cls, parent: QWidget | None, comparison: VersionComparison) -> bool:
        """Show what the new version answers differently; True to switch to it."""
        dialog = ReportDialog(
            f"Update {comparison.old.id}", comparison.summary(), comparison.markdown(), parent
        )
        switch = QPushButton(f"Switch to {comparison.new.id}")
        keep = QPushButton(f"Keep using {comparison.old.id}")
        dialog.buttons.addButton(switch, QDialogButtonBox.ButtonRole.AcceptRole)
        dialog.buttons.addButton(keep, QDialogButtonBox.ButtonRole.RejectRole)
        keep.setDefault(not comparison.identical)
        switch.setDefault(comparison.identical)
        dialog.buttons.accepted.connect(dialog.accept)
        dialog.buttons.rejected.connect(dialog.reject)
        return dialog.exec() == QDialog.DialogCode.Accepted

    @classmethod
    def record_again(cls, parent: QWidget | None, comparison: VersionComparison) -> bool:
        """After switching: record the check sets again on the new version? True for yes."""
        names = ", ".join(r.name for r in comparison.reports)
        box = QMessageBox(parent)
        box.setWindowTitle("Record again on the new version")
        box.setText(f"Record {names} again on {comparison.new.id}?")
        box.setInformativeText(
            f"They hold {comparison.old.id}'s answers, so later checks of "
            f"{comparison.new.id} would compare with the old version. Recording again makes "
            "the new version's answers the ones to compare with."
        )
        again = box.addButton("Record again on the new version", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep the old answers", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(again)
        box.exec()
        return box.clickedButton() is again
