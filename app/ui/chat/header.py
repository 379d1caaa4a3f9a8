"""The row above a conversation: its model, its sampling, its system prompt, export."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from app.core.chat.sampling import DEFAULT_PRESET, PRESETS
from app.core.chat.saved import CUSTOM
from app.core.models.store import InstalledModel
from app.ui import theme
from app.ui.chat.transfer import ConversationTransfer
from app.ui.elided_combo import ElidedComboBox
from app.ui.flow_layout import FlowLayout


class ConversationHeader(QWidget):
    """The open conversation's settings; the page connects what each one does."""

    def __init__(self, transfer: ConversationTransfer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_combo = ElidedComboBox("The installed model this conversation uses")
        self.model_combo.setAccessibleName("Model")
        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName("Sampling preset")
        self.preset_combo.addItems([*PRESETS, CUSTOM])
        self.preset_combo.setCurrentText(DEFAULT_PRESET)
        self.system_button = QPushButton("System &prompt…")
        self.sampling_button = QPushButton("&Sampling…")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.addAction(transfer.export_markdown_action)
        export_menu.addAction(transfer.export_json_action)
        export_menu.addSeparator()
        export_menu.addAction(transfer.import_action)
        self.export_button.setMenu(export_menu)
        model_label = QLabel("&Model:")
        model_label.setBuddy(self.model_combo)
        # A long model id must not widen the window: the list shows what fits.
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(14)
        model = QWidget()
        model.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        pair = QHBoxLayout(model)
        pair.setContentsMargins(0, 0, 0, 0)
        pair.setSpacing(theme.XS)
        pair.addWidget(model_label)
        pair.addWidget(self.model_combo, 1)
        # One line on a wide window; the settings wrap below the model on a narrow one.
        layout = FlowLayout(self)
        layout.addWidget(model)
        for widget in self.focus_chain[1:]:
            layout.addWidget(widget)

    @property
    def focus_chain(self) -> list[QWidget]:
        """The row's controls in reading order."""
        return [
            self.model_combo,
            self.preset_combo,
            self.sampling_button,
            self.system_button,
            self.export_button,
        ]

    def set_models(self, models: Iterable[InstalledModel]) -> None:
        """List the installed models, keeping the one chosen if it is still there."""
        chosen = self.model_combo.currentData()
        self.model_combo.clear()
        for model in models:
            version = f"@{model.short_commit}" if model.commit else f"sha {model.sha256[:7]}"
            pinned = "pinned " if model.pinned else ""
            self.model_combo.addItem(f"{model.id}  ({pinned}{version})", model.id)
        self.select_model(chosen)

    def select_model(self, model_id: str | None) -> None:
        index = self.model_combo.findData(model_id) if model_id else -1
        if index >= 0:
            self.model_combo.setCurrentIndex(index)
