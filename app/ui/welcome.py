"""The first-run welcome: what Driftless is, that nothing leaves the machine, which model
is ready and where bigger ones are. Three lines, shown once (Help > Welcome shows it again).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.core.models.starter import is_starter
from app.core.models.store import InstalledModel
from app.core.resources import resource_path
from app.ui.starter_note import starter_note

ICON_SVG = "io.driftless.Driftless.svg"


def app_icon() -> QIcon:
    """The app icon from resources/icons (SVG, with the PNG sizes as crisp small versions)."""
    icons = resource_path("icons")
    icon = QIcon(str(icons / ICON_SVG))
    for png in sorted(icons.glob("hicolor/*/apps/*.png")):
        icon.addFile(str(png))
    return icon


def welcome_lines(model: InstalledModel | None) -> tuple[str, str, str]:
    """The three lines: what it is, privacy, which model is ready and how to get more."""
    what = (
        f"{APP_NAME} runs small language models on this computer: chat with them, "
        "and sort texts by sentiment, intent or topic."
    )
    private = (
        "Nothing you type leaves this machine. Chat and classification work offline; "
        "only the model manager goes online, and only when you ask it to."
    )
    if model is None:
        ready = "No model is installed yet. Get one in Models > Catalog, or import a .gguf file."
    else:
        # The file name says it best ("SmolLM2-135M-Instruct.Q4_1"); GGUF headers often
        # carry a training-run name instead.
        name = model.filename.removesuffix(".gguf")
        size = f"{model.size / 1_000_000:,.0f} MB"
        if is_starter(model):
            ready = f"Ready now: {name} ({size}). {starter_note()}"
        else:
            ready = (
                f"Ready now: {name} ({size}). For other models, see Models > Catalog, or "
                "import a .gguf file."
            )
    return what, private, ready


class WelcomeDialog(QDialog):
    """Shown once, on the first start; ``catalog_requested`` asks for Models > Catalog."""

    catalog_requested = Signal()

    def __init__(
        self,
        model: InstalledModel | None,
        parent: QWidget | None = None,
        *,
        offer_check: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Welcome to {APP_NAME}")
        self.setAccessibleName(f"Welcome to {APP_NAME}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(72, 72))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        logo.setAccessibleName(f"{APP_NAME} logo")
        heading = QLabel(f"<h2>Welcome to {APP_NAME}</h2>")
        self.lines = [QLabel(text) for text in welcome_lines(model)]
        text = QVBoxLayout()
        text.addWidget(heading)
        for label in self.lines:
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.addWidget(label)
        # Offered once, ticked: every install gets a check set for the starter, so an
        # update or a new runtime later has something to be compared with.
        # A check box does not wrap its text: keep it to one short line; the rest is in the
        # tooltip and on the Models page.
        self.record_check = QCheckBox("Record a behaviour check of the starter (in the background)")
        self.record_check.setChecked(offer_check)
        self.record_check.setVisible(offer_check)
        self.record_check.setToolTip(
            "Answers 5 built-in prompts and 6 sentiment texts and keeps the exact answers, so "
            "Driftless can later show whether the model's behaviour changed (Models shows it)."
        )
        if offer_check:
            text.addWidget(self.record_check)
        text.addStretch(1)

        self.buttons = QDialogButtonBox()
        self.start_button = QPushButton("Start &chatting")
        self.start_button.setDefault(True)
        self.catalog_button = QPushButton("See &bigger models…")
        self.buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.catalog_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.accepted.connect(self.accept)
        self.catalog_button.clicked.connect(self._on_catalog_clicked)

        body = QHBoxLayout()
        body.addWidget(logo)
        body.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)
        # Qt sizes a dialog of word-wrapped labels as if they wrapped narrower than they do,
        # which left a blank band above the buttons: fit the height to the real width.
        self.resize(520, layout.heightForWidth(520))
        self.start_button.setFocus()

    @Slot()
    def _on_catalog_clicked(self) -> None:
        self.catalog_requested.emit()
        self.accept()
