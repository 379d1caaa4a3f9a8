"""The Chat page: conversations on the left, the current one on the right.

The page is thin: conversations come from :class:`ConversationStore`, replies from
the inference thread through :class:`ChatController`. Only the GUI thread touches
widgets; the worker saves each reply as it streams, and the page re-reads the saved
thread when a reply ends, so what is shown is what survives a crash.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.conversations import ConversationStore
from app.core.chat.drafts import ChatSession
from app.core.chat.protocols import ChatEngine
from app.core.chat.records import Conversation, Message
from app.core.chat.sampling import DEFAULT_PRESET, PRESETS
from app.core.chat.saved import (
    CUSTOM,
    NEW_TITLE,
    conversation_params,
    thread_messages,
    title_from,
)
from app.core.errors import ContextOverflow, DriftlessError
from app.core.models.probe import ProbeCache
from app.core.models.store import ModelStore
from app.core.runtime.results import LoadedModel
from app.ui.active_model import ActiveModel
from app.ui.chat.composer import Composer
from app.ui.chat.controller import ChatController
from app.ui.chat.dialogs import (
    ContextChoice,
    ContextChoiceDialog,
    SamplingDialog,
    SystemPromptDialog,
)
from app.ui.chat.sidebar import ConversationSidebar
from app.ui.chat.transcript import TranscriptView
from app.ui.chat.transfer import ConversationTransfer
from app.ui.chat.worker import ReplyOutcome
from app.ui.elided_label import ElidedLabel


class ChatPage(QWidget):
    """Send, stream, stop, regenerate and edit, over saved conversations."""

    status_changed = Signal(str)

    def __init__(
        self,
        store: ModelStore,
        conversations: ConversationStore,
        engine_factory: Callable[[], ChatEngine],
        parent: QWidget | None = None,
        *,
        active: ActiveModel | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        # New conversations use the window's active model (a conversation keeps its own).
        self.active = active if active is not None else ActiveModel(store, self)
        self.conversations = conversations
        self.controller = ChatController(engine_factory, conversations, self)
        self.current: Conversation | None = None
        self.editing_message_id: int | None = None
        self._drop_oldest: set[int] = set()
        self._resend_after_load = False
        self._deleted_id: int | None = None
        self.session = ChatSession(conversations.paths)
        self._build()
        self._connect()
        self.refresh_models()
        self.refresh_conversations()
        # The conversation open at quit, else the most recent one.
        remembered = self.session.open_conversation
        row = self.list_model.row_of(remembered) if remembered is not None else -1
        first = self.list_model.conversation_at(max(row, 0))
        if first is not None:
            self.open_conversation(first.id)
        else:
            self._load_model_for(None)
        self._update_state()
        self.focus_composer()  # typing at start goes to the message box, not the list

    # --- building ---------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = ConversationSidebar(self.conversations)
        self.sidebar.list_model.rename_requested = self._rename
        # The column's controls, by the names tests and the window use.
        self.search_box = self.sidebar.search_box
        self.new_button = self.sidebar.new_button
        self.list_model = self.sidebar.list_model
        self.list_view = self.sidebar.list_view
        self.no_match_label = self.sidebar.no_match_label
        self.delete_button = self.sidebar.delete_button
        self.undo_button = self.sidebar.undo_button

        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Model")
        self.model_combo.setToolTip("The installed model this conversation uses")
        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName("Sampling preset")
        self.preset_combo.addItems([*PRESETS, CUSTOM])
        self.preset_combo.setCurrentText(DEFAULT_PRESET)
        self.system_button = QPushButton("System &prompt…")
        self.sampling_button = QPushButton("&Sampling…")
        # The page's commands are actions: its buttons and the window's File menu share them.
        self.new_action = QAction("&New conversation", self)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.find_action = QAction("&Find in conversations", self)
        self.find_action.setShortcut(QKeySequence.StandardKey.Find)
        self.transfer = ConversationTransfer(self.conversations, self)
        self.export_markdown_action = self.transfer.export_markdown_action
        self.export_json_action = self.transfer.export_json_action
        self.import_action = self.transfer.import_action
        self.addActions(
            [
                self.new_action,
                self.find_action,
                self.export_markdown_action,
                self.export_json_action,
                self.import_action,
            ]
        )
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.addAction(self.export_markdown_action)
        export_menu.addAction(self.export_json_action)
        export_menu.addSeparator()
        export_menu.addAction(self.import_action)
        self.export_button.setMenu(export_menu)
        model_label = QLabel("&Model:")
        model_label.setBuddy(self.model_combo)
        header = QHBoxLayout()
        header.addWidget(model_label)
        header.addWidget(self.model_combo, 1)
        header.addWidget(self.preset_combo)
        header.addWidget(self.sampling_button)
        header.addWidget(self.system_button)
        header.addWidget(self.export_button)

        self.transcript = TranscriptView()
        self.composer = Composer()
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.regenerate_button = QPushButton("&Regenerate")
        self.regenerate_button.setToolTip("Answer the last message again (the old reply is kept)")
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.regenerate_button)
        compose_row = QHBoxLayout()
        compose_row.addWidget(self.composer, 1)
        compose_row.addLayout(buttons)
        self.edit_banner = QLabel()
        self.edit_banner.setWordWrap(True)
        self.edit_banner.hide()
        # One line, elided (the whole text in its tooltip): a long error never widens the window.
        self.state_label = ElidedLabel()
        self.state_label.setAccessibleName("Chat status")

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(header)
        right_layout.addWidget(self.transcript, 1)
        right_layout.addWidget(self.edit_banner)
        right_layout.addLayout(compose_row)
        right_layout.addWidget(self.state_label)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([220, 700])
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)
        # Tab follows the reading order: the list column, the header, the messages (the
        # transcript keeps its bubbles' buttons here), the message box and its buttons.
        chain = [
            *self.sidebar.focus_chain,
            self.model_combo,
            self.preset_combo,
            self.sampling_button,
            self.system_button,
            self.export_button,
            self.transcript,
            self.composer,
            self.send_button,
            self.stop_button,
            self.regenerate_button,
        ]
        for before, after in itertools.pairwise(chain):
            QWidget.setTabOrder(before, after)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.stop)
        QShortcut(QKeySequence("Ctrl+Shift+R"), self, self.regenerate)

    def _connect(self) -> None:
        c = self.controller
        c.model_loaded.connect(self._on_controller_model_loaded)
        c.load_failed.connect(self._on_controller_load_failed)
        c.reading_started.connect(self._on_controller_reading_started)
        c.prompt_progressed.connect(self._on_controller_prompt_progressed)
        c.text_received.connect(self._on_controller_text_received)
        c.reply_ended.connect(self._on_controller_reply_ended)
        c.context_overflowed.connect(self._on_controller_context_overflowed)
        self.composer.submitted.connect(self.send)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.regenerate_button.clicked.connect(self.regenerate)
        self.new_button.clicked.connect(self.new_conversation)
        self.new_action.triggered.connect(self.new_conversation)
        self.find_action.triggered.connect(self.focus_search)
        self.transfer.imported.connect(self._on_transfer_imported)
        self.transfer.reported.connect(self._show_state)
        self.delete_button.clicked.connect(self.delete_current)
        self.undo_button.clicked.connect(self.undo_delete)
        self.sidebar.picked.connect(self._on_sidebar_picked)
        self.sidebar.hit_clicked.connect(self.show_message)
        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.active.active_model_changed.connect(self._on_active_model_changed)
        self.preset_combo.activated.connect(self._on_preset_combo_activated)
        self.sampling_button.clicked.connect(self._on_sampling_clicked)
        self.system_button.clicked.connect(self._on_system_clicked)
        self.transcript.edit_requested.connect(self.begin_edit)
        self.transcript.branch_requested.connect(self.switch_branch)

    # --- models -----------------------------------------------------------

    def refresh_models(self) -> None:
        """Re-read installed models (the Models page changed something)."""
        chosen = self.model_combo.currentData()
        self.model_combo.clear()
        for model in self.store.list_models():
            version = f"@{model.short_commit}" if model.commit else f"sha {model.sha256[:7]}"
            pinned = "pinned " if model.pinned else ""
            self.model_combo.addItem(f"{model.id}  ({pinned}{version})", model.id)
        self._select_model_in_combo(chosen)
        if self.controller.loaded is None and not self.controller.loading:
            self._load_model_for(self.current)  # e.g. the starter, registered after start-up

    def _select_model_in_combo(self, model_id: str | None) -> None:
        index = self.model_combo.findData(model_id) if model_id else -1
        if index >= 0:
            self.model_combo.setCurrentIndex(index)

    def _wanted_model(self, conversation: Conversation | None) -> str | None:
        if conversation is not None and conversation.model_id:
            return conversation.model_id
        return self.active.model_id

    @Slot(str)
    def _on_active_model_changed(self, model_id: str) -> None:
        """Follow **Use**: a conversation with nothing in it yet switches to the new model."""
        if not model_id:
            return
        if self.current is None or not self.current.model_id:
            self._load_model_for(self.current)
        elif self.current.model_id == model_id:
            return
        elif not self.transcript.bubbles:
            self.current = self.conversations.update_settings(self.current.id, model_id=model_id)
            self._load_model_for(self.current)
        else:
            self._show_state(
                f"This conversation keeps {self.current.model_id}; "
                f"new conversations use {model_id}."
            )

    def _load_model_for(self, conversation: Conversation | None, n_ctx: int | None = None) -> None:
        wanted = self._wanted_model(conversation)
        self._select_model_in_combo(wanted)
        loaded = self.controller.loaded
        if wanted is None:
            self._show_state("No model installed. Add one in Models.")
            return
        if loaded is not None and loaded.model_id == wanted and n_ctx is None:
            return
        if self.controller.loading_model == wanted and n_ctx is None:
            return  # already on its way: asking again would cancel and restart it
        refusal = self._crashed_probe(wanted)
        if refusal is not None:
            # Never load on our own a model that killed llama.cpp: the user picks another.
            self._show_state(refusal)
            self._update_state()
            return
        self.controller.load_model(wanted, n_ctx)
        self._show_state(f"Loading {wanted}…")
        self._update_state()

    def _show_ready(self) -> None:
        """The status for a conversation just opened: never the last one's reply figures."""
        loaded = self.controller.loaded
        if loaded is not None and not self.controller.loading and not self.controller.busy:
            note = f" ({loaded.template_problem})" if loaded.template_problem else ""
            self._show_state(f"{loaded.model_id} ready, context {loaded.n_ctx:,} tokens.{note}")

    def _crashed_probe(self, model_id: str) -> str | None:
        """Why ``model_id`` must not be loaded automatically (it crashed its probe), or None."""
        try:
            model = self.store.get(model_id)
        except DriftlessError:
            return None  # gone or ambiguous: the load itself says so
        record = ProbeCache(self.store.paths).crashed(model)
        return None if record is None else record.problem(model.id)

    @Slot(int)
    def _on_model_combo_activated(self, index: int) -> None:
        model_id = self.model_combo.itemData(index)
        if self.current is not None:
            self.current = self.conversations.update_settings(self.current.id, model_id=model_id)
        self.controller.load_model(model_id)
        self._show_state(f"Loading {model_id}…")
        self._update_state()

    @Slot(object)
    def _on_controller_model_loaded(self, loaded: LoadedModel) -> None:
        self._show_ready()
        self._update_state()
        if self._resend_after_load:
            self._resend_after_load = False
            self._generate()

    @Slot(str)
    def _on_controller_load_failed(self, message: str) -> None:
        self._resend_after_load = False
        self._show_state(f"The model could not be loaded: {message}")
        self._update_state()

    # --- conversations ----------------------------------------------------

    def refresh_conversations(self) -> None:
        self.sidebar.refresh()

    @Slot(int, object)
    def _on_sidebar_picked(self, conversation_id: int, message_id: int | None) -> None:
        self.open_conversation(conversation_id, message_id)

    def open_conversation(self, conversation_id: int, message_id: int | None = None) -> None:
        """Open a conversation; with ``message_id``, on the branch that holds that message."""
        if self.controller.busy:
            self.controller.stop()
        leaving = self.current
        if leaving is not None:
            self.session.set_draft(leaving.id, self.composer.toPlainText())
        self.current = self.conversations.get_conversation(conversation_id)
        self.cancel_edit()
        draft = self.session.draft(conversation_id)
        if leaving is not None or draft:  # with none open, what was typed goes along
            self.composer.setPlainText(draft)
            self.composer.moveCursor(QTextCursor.MoveOperation.End)
        self.session.open_conversation = conversation_id
        self.session.save()
        thread = self.conversations.get_thread(conversation_id)
        if message_id is not None and message_id not in {m.id for m in thread}:
            thread = self.conversations.switch_branch(message_id)
        self._show_thread(thread)
        if message_id is not None:
            QTimer.singleShot(0, self, lambda: self._scroll_to(message_id))
        self._show_ready()
        preset_name, _params = conversation_params(self.current)
        self.preset_combo.setCurrentText(preset_name)
        self.sidebar.select(conversation_id)
        self._load_model_for(self.current)
        self._update_state()

    def _show_thread(self, thread: list[Message], *, scroll_to_bottom: bool = True) -> None:
        assert self.current is not None
        siblings = self.conversations.branch_siblings(self.current.id)
        self.transcript.set_messages(thread, siblings, scroll_to_bottom=scroll_to_bottom)

    def _scroll_to(self, message_id: int) -> None:
        bubble = self.transcript.bubble_for(message_id)
        if bubble is not None:
            self.transcript.ensureWidgetVisible(bubble)

    def show_message(self, message_id: int) -> None:
        """Show the branch that holds ``message_id`` (a search hit) and scroll to it."""
        if self.current is None or self.controller.busy:
            return
        if self.transcript.bubble_for(message_id) is None:
            self._show_thread(self.conversations.switch_branch(message_id))
        QTimer.singleShot(0, self, lambda: self._scroll_to(message_id))

    @Slot(int)
    def switch_branch(self, message_id: int) -> None:
        """Show the version ``message_id`` of a message, with its newest continuation."""
        if self.current is None or self.controller.busy:
            return
        self.cancel_edit()
        thread = self.conversations.switch_branch(message_id)
        self._show_thread(thread, scroll_to_bottom=False)
        self.current = self.conversations.get_conversation(self.current.id)
        bubble = self.transcript.bubble_for(message_id)
        if bubble is not None:
            position = bubble.branch_label.text()
            self._show_state(f"Showing version {position} of this message.")
            # Keep the keyboard where it was: on the switcher of the message just changed.
            forward = bubble.next_button.isEnabled()
            (bubble.next_button if forward else bubble.previous_button).setFocus()
            QTimer.singleShot(0, self, lambda: self._scroll_to(message_id))
        self._update_state()

    def new_conversation(self) -> Conversation:
        preset_name = self.preset_combo.currentText()
        model_id = self.active.model_id or self.model_combo.currentData()
        conversation = self.conversations.create_conversation(
            model_id=model_id,
            system_prompt=self.current.system_prompt if self.current else "",
            preset=preset_name if preset_name != CUSTOM else None,
            params=self.current.params if self.current and preset_name == CUSTOM else None,
        )
        self.sidebar.clear_search()
        self.open_conversation(conversation.id)
        self.composer.setFocus()
        return conversation

    def _rename(self, conversation_id: int, title: str) -> None:
        self.conversations.rename_conversation(conversation_id, title)
        if self.current is not None and self.current.id == conversation_id:
            self.current = self.conversations.get_conversation(conversation_id)
        QTimer.singleShot(0, self.refresh_conversations)

    def delete_current(self) -> None:
        if self.current is None:
            return
        self.controller.stop()
        self._deleted_id = self.current.id
        self.conversations.delete_conversation(self.current.id)
        # The draft goes with its conversation (and comes back with Undo).
        self.session.set_draft(self.current.id, self.composer.toPlainText())
        self.composer.clear()
        self._show_state(f"Deleted “{self.current.title}”. Undo brings it back.")
        self.current = None
        self.sidebar.select(None)
        self.transcript.clear()
        self.sidebar.offer_undo()
        self.refresh_conversations()
        self._update_state()

    def undo_delete(self) -> None:
        if self._deleted_id is None:
            return
        restored = self.conversations.restore_conversation(self._deleted_id)
        self._deleted_id = None
        self.sidebar.hide_undo()
        self.refresh_conversations()
        self.open_conversation(restored.id)

    # --- sending ----------------------------------------------------------

    def send(self) -> None:
        text = self.composer.toPlainText().strip()
        if not text or self.controller.busy:
            return
        if self.controller.loaded is None:
            self._show_state("The model is not loaded yet; your message is kept in the box.")
            return
        if self.current is None:
            self.new_conversation()
        assert self.current is not None
        if self.editing_message_id is not None:
            self.conversations.edit_message(self.editing_message_id, text)
            self.cancel_edit()
        else:
            self.conversations.add_user_message(self.current.id, text)
        if self.current.title == NEW_TITLE:
            self._rename(self.current.id, title_from(text))
        self.composer.clear()
        self.session.set_draft(self.current.id, "")
        self._generate()

    def regenerate(self) -> None:
        if self.current is None or self.controller.busy or self.controller.loaded is None:
            return
        self.conversations.regenerate(self.current.id)
        self._generate()

    def _generate(self) -> None:
        assert self.current is not None
        self.current = self.conversations.get_conversation(self.current.id)
        thread = self.conversations.get_thread(self.current.id)
        if not thread or thread[-1].role != "user":
            return
        _name, params = conversation_params(self.current)
        self._show_thread(thread)
        loaded = self.controller.loaded
        self.transcript.begin_reply(
            loaded.lock_id if loaded else None, loaded.sha256 if loaded else None
        )
        self.controller.send(
            self.current.id,
            thread_messages(self.current, thread),
            params,
            drop_oldest=self.current.id in self._drop_oldest,
        )
        self._update_state()

    def stop(self) -> None:
        if self.controller.busy:
            self.controller.stop()
        elif self.editing_message_id is not None and not self.composer.toPlainText().strip():
            self.cancel_edit()

    @Slot()
    def _on_controller_reading_started(self) -> None:
        self._show_state("Reading the conversation…")

    @Slot(int, int)
    def _on_controller_prompt_progressed(self, done: int, total: int) -> None:
        streaming = self.transcript.streaming
        if streaming is None or streaming.text or done >= total:
            return  # the reply has begun: its own status says so
        read = f"{done:,} / {total:,} tokens"
        streaming.set_note(f"reading {read}…")
        self._show_state(f"Reading the conversation… {read} (Esc stops)")

    @Slot(str)
    def _on_controller_text_received(self, text: str) -> None:
        first = self.transcript.streaming is None or not self.transcript.streaming.text
        self.transcript.append_reply(text)
        if first:  # no longer reading: say what is happening now
            self._show_state("Writing the reply… (Esc stops)")

    @Slot(object)
    def _on_controller_reply_ended(self, outcome: ReplyOutcome) -> None:
        if self.current is not None and outcome.conversation_id == self.current.id:
            if outcome.message_id and self.transcript.streaming is not None:
                self.transcript.finish_reply(self.conversations.get_message(outcome.message_id))
                self.transcript.set_siblings(self.conversations.branch_siblings(self.current.id))
            else:
                self._show_thread(self.conversations.get_thread(self.current.id))
        loaded = self.controller.loaded
        # The reply was written to a prompt in the generic format: say so, every time.
        note = f" {outcome.template_problem}" if outcome.template_problem else ""
        if outcome.status == "error":
            self._show_state(f"The reply failed: {outcome.error}{note}")
        elif outcome.stats is not None and loaded is not None:
            used = outcome.stats.prompt_tokens + outcome.stats.completion_tokens
            stopped = " Stopped." if outcome.status == "cancelled" else ""
            self._show_state(
                f"{outcome.stats.tokens_per_second:.1f} tokens/s · context {used:,} / "
                f"{loaded.n_ctx:,} tokens.{stopped}{note}"
            )
        elif outcome.status == "cancelled":
            self._show_state("Stopped.")
        self.refresh_conversations()
        self._update_state()

    @Slot(object)
    def _on_controller_context_overflowed(self, error: ContextOverflow) -> None:
        if self.current is not None:
            self._show_thread(self.conversations.get_thread(self.current.id))
        loaded = self.controller.loaded
        raise_to = None
        if loaded is not None and loaded.n_ctx_train and loaded.n_ctx_train > loaded.n_ctx:
            raise_to = min(loaded.n_ctx_train, loaded.n_ctx * 2)
        choice = ContextChoiceDialog.ask(self, str(error), raise_to)
        self._update_state()
        if choice is None or self.current is None:
            self._show_state("Not sent: the conversation does not fit the context. " + str(error))
            return
        if choice is ContextChoice.DROP_OLDEST:
            self._drop_oldest.add(self.current.id)
            self._show_state("The oldest turns are left out of what the model sees.")
            self._generate()
        elif choice is ContextChoice.RAISE_CONTEXT and raise_to is not None:
            self._resend_after_load = True
            self._load_model_for(self.current, n_ctx=raise_to)
        elif choice is ContextChoice.NEW_CONVERSATION:
            last = self.conversations.get_thread(self.current.id)[-1]
            self.new_conversation()
            assert self.current is not None
            self.conversations.add_user_message(self.current.id, last.content)
            self._generate()

    # --- editing, settings, export ----------------------------------------

    def begin_edit(self, message_id: int) -> None:
        message = self.conversations.get_message(message_id)
        self.editing_message_id = message_id
        self.composer.setPlainText(message.content)
        self.composer.setFocus()
        self.edit_banner.setText(
            "Editing an earlier message. Sending it continues the conversation from there; "
            "the later messages are kept on the old branch. Esc in an empty box cancels."
        )
        self.edit_banner.show()

    def cancel_edit(self) -> None:
        self.editing_message_id = None
        self.edit_banner.hide()

    @Slot(int)
    def _on_preset_combo_activated(self, _index: int) -> None:
        name = self.preset_combo.currentText()
        if self.current is not None and name != CUSTOM:
            self.current = self.conversations.update_settings(self.current.id, preset=name)

    def _on_sampling_clicked(self) -> None:
        _name, params = conversation_params(self.current)
        chosen = SamplingDialog.ask(self, params)
        if chosen is None:
            return
        if self.current is None:
            self.new_conversation()
        assert self.current is not None
        self.current = self.conversations.update_settings(
            self.current.id, preset=CUSTOM, params=chosen.to_json()
        )
        self.preset_combo.setCurrentText(CUSTOM)

    def _on_system_clicked(self) -> None:
        text = SystemPromptDialog.ask(self, self.current.system_prompt if self.current else "")
        if text is None:
            return
        if self.current is None:
            self.new_conversation()
        assert self.current is not None
        self.current = self.conversations.update_settings(self.current.id, system_prompt=text)
        self._show_state("System prompt saved for this conversation.")

    def import_conversation(self) -> Conversation | None:
        """Add a conversation from a JSON export (every branch) and open it."""
        return self.transfer.import_conversation()

    @Slot(object)
    def _on_transfer_imported(self, imported: Conversation) -> None:
        self.sidebar.clear_search()
        self.open_conversation(imported.id)
        self.composer.setFocus()

    def focus_search(self) -> None:
        """Ctrl+F: to the conversation search, its text selected to type over."""
        self.sidebar.focus_search()

    def focus_composer(self) -> None:
        self.composer.setFocus(Qt.FocusReason.OtherFocusReason)

    # --- state ------------------------------------------------------------

    def _show_state(self, text: str) -> None:
        self.state_label.setText(text)
        self.status_changed.emit(text)

    def _update_state(self) -> None:
        busy = self.controller.busy
        ready = self.controller.loaded is not None and not self.controller.loading
        self.send_button.setEnabled(ready and not busy)
        self.stop_button.setEnabled(busy)
        has_reply = bool(self.transcript.bubbles) and self.current is not None
        self.regenerate_button.setEnabled(ready and not busy and has_reply)
        self.model_combo.setEnabled(not busy)
        self.delete_button.setEnabled(self.current is not None)
        self.export_button.setEnabled(self.current is not None)
        self.transfer.set_current(self.current)

    def save_session(self) -> None:
        """Keep the unsent draft and which conversation is open, for the next start."""
        if self.current is not None:
            self.session.set_draft(self.current.id, self.composer.toPlainText())
        self.session.open_conversation = self.current.id if self.current else None
        self.session.save()

    def shutdown(self) -> None:
        self.save_session()
        self.controller.shutdown()
