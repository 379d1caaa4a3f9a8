"""The Chat page: conversations on the left, the current one on the right.

The page is thin: what it is doing (the open conversation, its thread, the reply
under way, the drafts) is a Qt-free :class:`ChatState` that its widgets observe;
replies come from the inference thread through :class:`ChatController`. Only the GUI
thread touches widgets; the worker saves each reply as it streams, and the page
re-reads the saved thread when a reply ends, so what is shown is what survives a crash.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.conversations import ConversationStore
from app.core.chat.protocols import ChatEngine
from app.core.chat.records import Conversation
from app.core.chat.saved import CUSTOM, conversation_params
from app.core.errors import ContextOverflow
from app.core.models.store import ModelStore
from app.core.runtime.results import LoadedModel
from app.ui import theme
from app.ui.active_model import ActiveModel
from app.ui.chat.answer_from import AnswerFromButton
from app.ui.chat.composer import Composer
from app.ui.chat.controller import ChatController
from app.ui.chat.dialogs import (
    ContextChoice,
    ContextChoiceDialog,
    SamplingDialog,
    SystemPromptDialog,
)
from app.ui.chat.header import ConversationHeader
from app.ui.chat.requests import ReplyOutcome
from app.ui.chat.session import ChatState, SavedReply, ShownThread
from app.ui.chat.sidebar import ConversationSidebar
from app.ui.chat.transcript import TranscriptView
from app.ui.chat.transfer import ConversationTransfer
from app.ui.doc_access import DocsAccess
from app.ui.elided_label import ElidedLabel
from app.ui.icons import icon
from app.ui.passage_view import PassageDialog, PassageRef


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
        docs: DocsAccess | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        # The document collections "Answer from" offers (the window shares its own).
        self._owns_docs = docs is None
        self.docs = docs if docs is not None else DocsAccess(store)
        self.passage_dialog: PassageDialog | None = None
        # New conversations use the window's active model (a conversation keeps its own).
        self.active = active if active is not None else ActiveModel(store, self)
        self.conversations = conversations
        self.controller = ChatController(engine_factory, conversations, self, self.docs)
        self.state = ChatState(conversations, store, self.controller, lambda: self.active.model_id)
        self._build()
        self._connect()
        self.refresh_models()
        self.refresh_conversations()
        # The conversation open at quit, else the most recent one.
        remembered = self.state.drafts.open_conversation
        row = self.list_model.row_of(remembered) if remembered is not None else -1
        first = self.list_model.conversation_at(max(row, 0))
        if first is not None:
            self.open_conversation(first.id)
        else:
            self.state.load_model_for(None)
        self._update_buttons()
        self.focus_composer()  # typing at start goes to the message box, not the list

    @property
    def current(self) -> Conversation | None:
        """The open conversation."""
        return self.state.current

    # --- building ---------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = ConversationSidebar(self.conversations)
        self.sidebar.list_model.rename_requested = self.state.rename
        # The column's controls, by the names tests and the window use.
        self.search_box = self.sidebar.search_box
        self.new_button = self.sidebar.new_button
        self.list_model = self.sidebar.list_model
        self.list_view = self.sidebar.list_view
        self.no_match_label = self.sidebar.no_match_label
        self.delete_button = self.sidebar.delete_button
        self.undo_button = self.sidebar.undo_button

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
        self.header = ConversationHeader(self.transfer)
        self.model_combo = self.header.model_combo
        self.preset_combo = self.header.preset_combo
        self.system_button = self.header.system_button
        self.sampling_button = self.header.sampling_button
        self.export_button = self.header.export_button

        self.transcript = TranscriptView()
        self.composer = Composer()
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.send_button.setIcon(icon("send", "on_accent"))
        theme.set_primary(self.send_button)
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
        self.answer_from_button = AnswerFromButton(
            lambda: [c.name for c in self.docs.collections()]
        )
        answer_row = QHBoxLayout()
        answer_row.addWidget(self.answer_from_button)
        answer_row.addStretch(1)
        self.edit_banner = QLabel()
        self.edit_banner.setWordWrap(True)
        self.edit_banner.hide()
        # One line, elided (the whole text in its tooltip): a long error never widens the window.
        self.state_label = ElidedLabel()
        self.state_label.setAccessibleName("Chat status")

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.header)
        right_layout.addWidget(self.transcript, 1)
        right_layout.addWidget(self.edit_banner)
        right_layout.addLayout(answer_row)
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
            *self.header.focus_chain,
            self.transcript,
            self.answer_from_button,
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
        state = self.state
        state.status.connect(self._show_status)
        state.changed.connect(self._on_state_changed)
        state.thread_shown.connect(self._on_state_thread_shown)
        state.reply_begun.connect(self._on_state_reply_begun)
        state.reply_prefilled.connect(self.transcript.append_reply)
        state.reply_saved.connect(self._on_state_reply_saved)
        state.editing_changed.connect(self._on_state_editing_changed)
        state.renamed.connect(self._on_state_renamed)
        state.model_wanted.connect(self.header.select_model)
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
        self.transfer.reported.connect(self._show_status)
        self.delete_button.clicked.connect(self.delete_current)
        self.undo_button.clicked.connect(self.undo_delete)
        self.sidebar.picked.connect(self._on_sidebar_picked)
        self.sidebar.hit_clicked.connect(self.show_message)
        self.sidebar.hit_requested.connect(self._on_sidebar_hit_requested)
        self.search_box.textChanged.connect(self.transcript.set_marked)
        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.active.active_model_changed.connect(self.state.active_model_changed)
        self.preset_combo.activated.connect(self._on_preset_combo_activated)
        self.sampling_button.clicked.connect(self._on_sampling_clicked)
        self.system_button.clicked.connect(self._on_system_clicked)
        self.transcript.edit_requested.connect(self.begin_edit)
        self.transcript.regenerate_requested.connect(self.regenerate)
        self.transcript.continue_requested.connect(self.continue_reply)
        self.transcript.prompt_chosen.connect(self.send_prompt)
        self.transcript.branch_requested.connect(self.switch_branch)
        self.transcript.source_requested.connect(self.open_source)
        self.answer_from_button.chosen_changed.connect(self._on_answer_from_chosen_changed)

    # --- models -----------------------------------------------------------

    def refresh_models(self) -> None:
        """Re-read installed models (the Models page changed something)."""
        self.header.set_models(self.store.list_models())
        self.state.ensure_model()

    @Slot(int)
    def _on_model_combo_activated(self, index: int) -> None:
        self.state.choose_model(self.model_combo.itemData(index))

    @Slot(object)
    def _on_controller_model_loaded(self, loaded: LoadedModel) -> None:
        self.state.model_loaded(loaded)

    @Slot(str)
    def _on_controller_load_failed(self, message: str) -> None:
        self.state.load_failed(message)

    # --- conversations ----------------------------------------------------

    def refresh_conversations(self) -> None:
        self.sidebar.refresh()

    @Slot(int, object)
    def _on_sidebar_picked(self, conversation_id: int, message_id: int | None) -> None:
        self.open_conversation(conversation_id, message_id)

    def open_conversation(self, conversation_id: int, message_id: int | None = None) -> None:
        """Open a conversation; with ``message_id``, on the branch that holds that message."""
        draft = self.state.open(conversation_id, message_id, draft=self.composer.toPlainText())
        if draft is not None:
            self.composer.setPlainText(draft)
            self.composer.moveCursor(QTextCursor.MoveOperation.End)
        if message_id is not None:
            QTimer.singleShot(0, self, lambda: self._scroll_to(message_id))
        preset_name, _params = conversation_params(self.current)
        self.preset_combo.setCurrentText(preset_name)
        self.answer_from_button.set_chosen(self.state.answer_from)
        self.sidebar.select(conversation_id)

    # --- answering from documents -------------------------------------------

    @Slot(list)
    def _on_answer_from_chosen_changed(self, names: list[str]) -> None:
        if self.current is None:
            self.new_conversation()
        self.state.set_answer_from(names)  # the button follows through changed

    @Slot(object)
    def open_source(self, ref: PassageRef) -> PassageDialog:
        """Show one of a reply's sources: the passage in its file, highlighted."""
        if self.passage_dialog is not None:
            self.passage_dialog.close()
        self.passage_dialog = PassageDialog(ref, self)
        self.passage_dialog.open()
        return self.passage_dialog

    def _on_state_thread_shown(self, shown: ShownThread) -> None:
        self.transcript.set_messages(
            list(shown.messages), shown.siblings, scroll_to_bottom=shown.scroll_to_bottom
        )

    def _scroll_to(self, message_id: int) -> None:
        bubble = self.transcript.bubble_for(message_id)
        if bubble is not None:
            self.transcript.ensureWidgetVisible(bubble)

    def show_message(self, message_id: int) -> None:
        """Show the branch that holds ``message_id`` (a search hit) and scroll to it."""
        if self.state.show_message(message_id):
            QTimer.singleShot(0, self, lambda: self._scroll_to(message_id))

    @Slot(int, int)
    def _on_sidebar_hit_requested(self, conversation_id: int, message_id: int) -> None:
        """Enter in the search box: the next matching message, in its branch, in view."""
        if self.current is not None and self.current.id == conversation_id:
            self.show_message(message_id)
        else:
            self.open_conversation(conversation_id, message_id)
        shown, count = self.sidebar.match_position()
        self._show_status(f"Match {shown} of {count}; Enter shows the next.")

    @Slot(int)
    def switch_branch(self, message_id: int) -> None:
        """Show the version ``message_id`` of a message, with its newest continuation;
        its ‹ › switcher stays where the one clicked was."""
        self.transcript.hold_switcher(message_id)
        if not self.state.switch_branch(message_id):
            self.transcript.drop_hold()
            return
        bubble = self.transcript.bubble_for(message_id)
        if bubble is not None:
            position = bubble.branch_label.text()
            self._show_status(f"Showing version {position} of this message.")
            # Keep the keyboard where it was: on the switcher of the message just changed.
            forward = bubble.next_button.isEnabled()
            (bubble.next_button if forward else bubble.previous_button).setFocus()

    def new_conversation(self) -> Conversation:
        model_id = self.active.model_id or self.model_combo.currentData()
        conversation = self.state.new_conversation(self.preset_combo.currentText(), model_id)
        self.sidebar.clear_search()
        self.open_conversation(conversation.id)
        self.composer.setFocus()
        return conversation

    def _on_state_renamed(self, _conversation_id: int) -> None:
        # Later: a rename typed in the list arrives while the list is being edited.
        QTimer.singleShot(0, self.refresh_conversations)

    def delete_current(self) -> None:
        if self.state.delete_current(self.composer.toPlainText()) is None:
            return
        self.composer.clear()
        self.sidebar.select(None)
        self.transcript.clear()
        self.sidebar.offer_undo()
        self.refresh_conversations()
        self._update_buttons()

    def undo_delete(self) -> None:
        restored = self.state.undo_delete()
        if restored is None:
            return
        self.sidebar.hide_undo()
        self.refresh_conversations()
        self.open_conversation(restored.id)

    # --- sending ----------------------------------------------------------

    def send(self) -> None:
        text = self.composer.toPlainText().strip()
        if not self.state.can_send(text):
            return
        if self.current is None:
            self.new_conversation()
        self.composer.clear()
        self.state.send(text)

    def regenerate(self) -> None:
        self.state.regenerate()

    def continue_reply(self) -> None:
        """Write more of the last reply, cut at its token limit (a new version of it)."""
        self.state.continue_reply()

    def send_prompt(self, text: str) -> None:
        """An example prompt of the empty conversation: sent as if typed."""
        self.composer.setPlainText(text)
        self.send()

    def stop(self) -> None:
        if self.state.busy:
            self.state.stop()
        elif self.state.editing_message_id is not None and not self.composer.toPlainText().strip():
            self.cancel_edit()

    def _on_state_reply_begun(self, loaded: LoadedModel | None) -> None:
        self.transcript.begin_reply(
            loaded.lock_id if loaded else None, loaded.sha256 if loaded else None
        )

    @Slot()
    def _on_controller_reading_started(self) -> None:
        self._show_status("Reading the conversation…")

    @Slot(int, int)
    def _on_controller_prompt_progressed(self, done: int, total: int) -> None:
        streaming = self.transcript.streaming
        if streaming is None or streaming.text or done >= total:
            return  # the reply has begun: its own status says so
        read = f"{done:,} / {total:,} tokens"
        streaming.set_note(f"reading {read}…")
        self._show_status(f"Reading the conversation… {read} (Esc stops)")

    @Slot(str)
    def _on_controller_text_received(self, text: str) -> None:
        first = self.transcript.streaming is None or not self.transcript.streaming.text
        self.transcript.append_reply(text)
        if first:  # no longer reading: say what is happening now
            self._show_status("Writing the reply… (Esc stops)")

    @Slot(object)
    def _on_controller_reply_ended(self, outcome: ReplyOutcome) -> None:
        self.state.reply_ended(outcome, streamed=self.transcript.streaming is not None)
        self.refresh_conversations()
        self._update_buttons()

    def _on_state_reply_saved(self, saved: SavedReply) -> None:
        self.transcript.finish_reply(saved.message)
        self.transcript.set_siblings(saved.siblings)

    @Slot(object)
    def _on_controller_context_overflowed(self, error: ContextOverflow) -> None:
        raise_to = self.state.overflowed()
        choice = ContextChoiceDialog.ask(self, str(error), raise_to)
        self._update_buttons()
        if choice is None or self.current is None:
            self._show_status("Not sent: the conversation does not fit the context. " + str(error))
        elif choice is ContextChoice.DROP_OLDEST:
            self.state.retry_dropping_oldest()
        elif choice is ContextChoice.RAISE_CONTEXT and raise_to is not None:
            self.state.retry_with_context(raise_to)
        elif choice is ContextChoice.NEW_CONVERSATION:
            last = self.state.last_message()
            self.new_conversation()
            self.state.send_again(last.content)

    # --- editing, settings, export ----------------------------------------

    def begin_edit(self, message_id: int) -> None:
        message = self.state.begin_edit(message_id)
        self.composer.setPlainText(message.content)
        self.composer.setFocus()

    def cancel_edit(self) -> None:
        self.state.cancel_edit()

    def _on_state_editing_changed(self, message_id: int | None) -> None:
        self.edit_banner.setText(
            "Editing an earlier message. Sending it continues the conversation from there; "
            "the later messages are kept on the old branch. Esc in an empty box cancels."
        )
        self.edit_banner.setVisible(message_id is not None)

    @Slot(int)
    def _on_preset_combo_activated(self, _index: int) -> None:
        self.state.set_preset(self.preset_combo.currentText())

    def _on_sampling_clicked(self) -> None:
        _name, params = conversation_params(self.current)
        chosen = SamplingDialog.ask(self, params)
        if chosen is None:
            return
        if self.current is None:
            self.new_conversation()
        self.state.set_params(chosen)
        self.preset_combo.setCurrentText(CUSTOM)

    def _on_system_clicked(self) -> None:
        text = SystemPromptDialog.ask(self, self.current.system_prompt if self.current else "")
        if text is None:
            return
        if self.current is None:
            self.new_conversation()
        self.state.set_system_prompt(text)

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

    def _show_status(self, text: str) -> None:
        self.state_label.setText(text)
        self.status_changed.emit(text)

    def _on_state_changed(self, _none: None) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.state.busy
        ready = self.state.ready
        self.send_button.setEnabled(ready and not busy)
        self.stop_button.setEnabled(busy)
        has_reply = bool(self.transcript.bubbles) and self.current is not None
        self.regenerate_button.setEnabled(ready and not busy and has_reply)
        self.model_combo.setEnabled(not busy)
        self.delete_button.setEnabled(self.current is not None)
        self.export_button.setEnabled(self.current is not None)
        self.transfer.set_current(self.current)
        self.answer_from_button.set_chosen(self.state.answer_from)

    def save_session(self) -> None:
        """Keep the unsent draft and which conversation is open, for the next start."""
        self.state.save(self.composer.toPlainText())

    def shutdown(self) -> None:
        self.save_session()
        self.controller.shutdown()
        if self._owns_docs:
            self.docs.close()
