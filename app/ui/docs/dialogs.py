"""Asking before the Documents page acts: a new collection's name and embedder, and
whether to remove one. Each has an ``ask`` classmethod that tests replace."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.models.store import InstalledModel


@dataclass(frozen=True)
class NewCollection:
    name: str
    embedder: str | None
    paths: tuple[Path, ...]


def suggested_name(paths: Sequence[Path]) -> str:
    """A collection name from the first folder's or file's name ("policies")."""
    if not paths:
        return ""
    first = paths[0] if paths[0].is_dir() else paths[0].parent
    name = re.sub(r"[^\w.-]+", "-", first.name).strip("-.")[:64]
    return name or "documents"


def name_problem(name: str, taken: Sequence[str]) -> str:
    """Why ``name`` cannot name a new collection, or ""."""
    if not name:
        return "Give the collection a name."
    if len(name) > 64 or name.startswith(".") or not all(c.isalnum() or c in "-_." for c in name):
        return "Use letters, digits, '-', '_' and '.' (at most 64 characters)."
    if name in taken:
        return f"There is already a collection named '{name}'."
    return ""


class NewCollectionDialog(QDialog):
    """A name, the model that embeds (pinned for good), and the first folders or files."""

    def __init__(
        self,
        models: Sequence[InstalledModel],
        default_model: str | None,
        taken: Sequence[str],
        paths: Sequence[Path] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New collection")
        self._taken = list(taken)
        self.name_edit = QLineEdit(suggested_name(paths))
        self.name_edit.setPlaceholderText("for example: policies")
        self.name_edit.setAccessibleName("Collection name")
        self.embedder_combo = QComboBox()
        self.embedder_combo.setAccessibleName("Embedder")
        for model in models:
            self.embedder_combo.addItem(model.id, model.id)
        index = self.embedder_combo.findData(default_model) if default_model else -1
        self.embedder_combo.setCurrentIndex(max(index, 0))
        embedder_note = QLabel(
            "The collection stays pinned to this model: searching it and answering from it "
            "always use the same weights. A dedicated embedding model, if you install one, "
            "finds passages better."
        )
        embedder_note.setWordWrap(True)
        self.paths_list = QListWidget()
        self.paths_list.setAccessibleName("Folders and files")
        for path in paths:
            self.paths_list.addItem(str(path))
        add_folder = QPushButton("Add &folder…")
        add_folder.clicked.connect(self._on_add_folder_clicked)
        add_files = QPushButton("Add f&iles…")
        add_files.clicked.connect(self._on_add_files_clicked)
        path_buttons = QHBoxLayout()
        path_buttons.addWidget(add_folder)
        path_buttons.addWidget(add_files)
        path_buttons.addStretch(1)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Make and &index")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Embedder:", self.embedder_combo)
        form.addRow("", embedder_note)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Folders and files to index (.txt, .md, .html, .pdf, .docx):"))
        layout.addWidget(self.paths_list, 1)
        layout.addLayout(path_buttons)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._check)
        self.resize(480, 420)
        self._check()

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(Path(self.paths_list.item(i).text()) for i in range(self.paths_list.count()))

    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder")
        if folder:
            self._add_paths([Path(folder)])

    def _on_add_files_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add files", "", "Documents (*.txt *.md *.html *.htm *.pdf *.docx);;All (*)"
        )
        self._add_paths([Path(f) for f in files])

    def _add_paths(self, paths: Sequence[Path]) -> None:
        for path in paths:
            self.paths_list.addItem(str(path))
        if not self.name_edit.text():
            self.name_edit.setText(suggested_name(paths))
        self._check()

    def _check(self) -> None:
        problem = name_problem(self.name_edit.text().strip(), self._taken)
        if not problem and not self.paths:
            problem = "Add a folder or some files to index."
        if not problem and self.embedder_combo.count() == 0:
            problem = "No model is installed to embed with: add one in Models."
        self.problem.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)

    def result_value(self) -> NewCollection:
        return NewCollection(
            self.name_edit.text().strip(), self.embedder_combo.currentData(), self.paths
        )

    @classmethod
    def ask(
        cls,
        parent: QWidget,
        models: Sequence[InstalledModel],
        default_model: str | None,
        taken: Sequence[str],
        paths: Sequence[Path] = (),
    ) -> NewCollection | None:
        dialog = cls(models, default_model, taken, paths, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.result_value()


def confirm_remove(parent: QWidget, name: str, files: int) -> bool:
    """Ask before removing a collection's index (its files stay)."""
    answer = QMessageBox.question(
        parent,
        "Remove the collection?",
        f"Remove the collection '{name}' ({files:,} files indexed)? Its index is deleted; "
        "the files themselves are not touched. Conversations that answer from it will "
        "answer from the model alone.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


class RemoveConfirm:
    """The confirmation, as a class tests can replace."""

    @staticmethod
    def ask(parent: QWidget, name: str, files: int) -> bool:
        return confirm_remove(parent, name, files)
