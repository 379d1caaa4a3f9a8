"""Every question the model manager asks a person, and the one call that leaves the app.

Each is a classmethod so that a test replaces it (``monkeypatch.setattr(Prompts,
"open_gguf", ...)``) instead of driving a modal dialog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QFileDialog, QMessageBox, QWidget

from app.core.models.store import InstalledModel
from app.ui.desktop import open_folder

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"
LOCK_FILTER = "Driftless lockfiles (*.lock *.toml);;All files (*)"


@dataclass(frozen=True)
class ImportChoice:
    """How to import local files: copy them into the store or use them in place; pin them."""

    link: bool = False
    pin: bool = False


class Prompts:
    @classmethod
    def confirm_remove(cls, parent: QWidget | None, model: InstalledModel) -> bool:
        text = f"Remove {model.id}?"
        if model.managed:
            text += "\nIts file will be deleted from the model store."
        else:
            text += f"\nIts file stays where it is:\n{model.path}"
        answer = QMessageBox.question(parent, "Remove model", text)
        return answer == QMessageBox.StandardButton.Yes

    @classmethod
    def open_gguf(cls, parent: QWidget | None) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(parent, "Import a GGUF model", "", GGUF_FILTER)
        return Path(name) if name else None

    @classmethod
    def import_options(cls, parent: QWidget | None, paths: list[Path]) -> ImportChoice | None:
        names = ", ".join(p.name for p in paths)
        box = QMessageBox(parent)
        box.setWindowTitle("Import GGUF")
        box.setText(f"Import {names}?")
        box.setInformativeText(
            "Copying keeps the model safe if the original moves; using it in place saves "
            "disk space. Either way its GGUF header and sha256 are checked first."
        )
        copy = box.addButton("Copy into the store", QMessageBox.ButtonRole.AcceptRole)
        link = box.addButton("Use in place", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(copy)
        pin = QCheckBox("Pin it")
        box.setCheckBox(pin)
        box.exec()
        if box.clickedButton() not in (copy, link):
            return None
        return ImportChoice(link=box.clickedButton() is link, pin=pin.isChecked())

    @classmethod
    def save_lockfile(cls, parent: QWidget | None) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(
            parent, "Export the lockfile", "driftless.lock", LOCK_FILTER
        )
        return Path(name) if name else None

    @classmethod
    def open_lockfile(cls, parent: QWidget | None) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(parent, "Import a lockfile", "", LOCK_FILTER)
        return Path(name) if name else None

    @classmethod
    def show_folder(cls, folder: Path) -> bool:
        """Open ``folder`` in the system's file manager; False if nothing could."""
        return open_folder(folder)
