"""Render every page and main dialog into PNGs: ``make screenshots OUT=DIR``.

A fresh data folder is seeded (the starter installed, a few conversations, a classified
file and its evaluation, four documents indexed by the starter and a search in them),
then the window is drawn offscreen, in the light and the dark scheme, at 1280x800 and
800x600, page by page and dialog by dialog:

    DIR/light-1280x800-chat.png, DIR/dark-800x600-models-catalog.png, ...

The README's pictures come from here. Nothing touches the real data folder or the
network; the starter model is loaded (it is small), nothing else.

    .venv/bin/python docs/make_screenshots.py OUT [--theme light|dark] [--size 1280x800]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = ((1280, 800), (800, 600))
THEMES = ("light", "dark")

CONVERSATIONS = [
    (
        "Which HTML element for a block of text?",
        [
            ("user", "Which HTML element for a block of text?"),
            (
                "assistant",
                "Use a `<div>` for a block with no meaning of its own, and `<p>` for a "
                "paragraph:\n\n```html\n<p>Driftless runs small models on this computer.</p>\n"
                '<div class="note">Nothing leaves the machine.</div>\n```\n\n'
                "A `<span>` stays inside the line.",
            ),
            ("user", "Can a <div> sit inside a line?"),
            ("assistant", "Yes: give it `display: inline-block`, and it flows with the text."),
        ],
    ),
    (
        "Write a haiku about the sea",
        [
            ("user", "Write a haiku about the sea"),
            (
                "assistant",
                "Grey waves fold and break,\nsalt wind carries gulls inland,\nthe tide keeps "
                "its time.",
            ),
        ],
    ),
    (
        "Summarise: the meeting moved to Tuesday",
        [
            ("user", "Summarise in one line: the team meeting moved from Monday to Tuesday "),
            ("assistant", "The team meeting is now on Tuesday instead of Monday, at the same"),
        ],
    ),
]

REVIEWS = [
    ("A warm, funny and moving film.", "positive"),
    ("Two hours I will never get back.", "negative"),
    ("The actors clearly had fun, and so did I.", "positive"),
    ("A joyless, plodding mess.", "negative"),
    ("Beautifully shot and well told.", "positive"),
    ("The plot makes no sense at all.", "negative"),
    ("I laughed from start to finish.", "positive"),
    ("Dull, long and forgettable.", "negative"),
]


HANDBOOK = {
    "refunds.md": (
        "# Refunds\n\nA refund is paid within 14 days of the return reaching the warehouse, "
        "to the card used for the order. Gift cards are refunded as store credit.\n\n"
        "## Damaged items\n\nA damaged item is refunded in full, shipping included, when a "
        "photo of the damage is sent within 7 days of delivery.\n"
    ),
    "shipping.md": (
        "# Shipping\n\nOrders placed before 2 pm leave the warehouse the same day. Standard "
        "delivery takes 3 to 5 working days; express delivery takes one.\n\n"
        "Shipping is free on orders over 50 euros.\n"
    ),
    "returns.txt": (
        "Returns\n\nAny item can be returned within 30 days, unused and in its box. Print "
        "the return label from your account and drop the parcel at any post office.\n"
    ),
    "warranty.md": (
        "# Warranty\n\nEvery appliance has a two-year warranty. A fault covered by it is "
        "repaired or the appliance replaced, at no cost.\n"
    ),
}
"""A small handbook for the Documents page: four files (and an empty one, skipped), indexed
by the starter in about a second."""

DOCS_QUERY = "how long does a refund take"
"""The search shown on the Documents page."""


def seed(home: Path) -> None:
    """The starter, three conversations (one reply cut at its token limit), a run, a
    collection of documents."""
    from app.core.chat.conversations import ConversationStore
    from app.core.chat.records import ModelProvenance, ReplyStats
    from app.core.models.starter import ensure_starter
    from app.core.models.store import ModelStore
    from app.core.paths import get_paths

    paths = get_paths(home).ensure()
    store = ModelStore(paths)
    starter = ensure_starter(store)
    assert starter is not None, "the starter model package is not installed (make setup)"
    conversations = ConversationStore(paths)
    provenance = ModelProvenance(f"{starter.id}/{starter.filename}", starter.sha256)

    def reply(conversation_id: int, text: str, *, cut: bool = False, parent: int | None = None):
        params = {"max_tokens": 16 if cut else 512, "temperature": 0.7}
        extra = {} if parent is None else {"parent_id": parent}
        writer = conversations.begin_reply(conversation_id, provenance, params, **extra)
        writer.append(text)
        tokens = 16 if cut else 30
        return writer.finish("complete", stats=ReplyStats(40, tokens, 31.5))

    try:
        for title, messages in reversed(CONVERSATIONS):
            conversation = conversations.create_conversation(model_id=starter.id)
            conversations.rename_conversation(conversation.id, title)
            cut = title.startswith("Summarise")
            for number, (role, text) in enumerate(messages):
                if role == "user":
                    asked = conversations.add_user_message(conversation.id, text)
                elif number == 1 and title.startswith("Which HTML"):
                    # Two versions of the first reply (Regenerate), the second shown.
                    reply(conversation.id, "A `<div>`.", parent=asked.id)
                    reply(conversation.id, text, parent=asked.id)
                else:
                    reply(conversation.id, text, cut=cut)
    finally:
        conversations.close()
    seed_run(paths)
    seed_docs(paths)


def seed_run(paths: object) -> None:
    """A small file classified by the starter (the command line, as a person would)."""
    import csv

    from app.core.paths import Paths

    assert isinstance(paths, Paths)
    source = paths.home / "reviews.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(REVIEWS)
    arguments = ["--input", str(source), "--text-column", "text", "--label-set", "sentiment"]
    cli(paths, "classify", *arguments)


def cli(paths: object, *arguments: str) -> None:
    """Run the command line as a person would, on the seeded data folder."""
    import subprocess

    from app.core.paths import HOME_ENV, Paths

    assert isinstance(paths, Paths)
    env = {**os.environ, HOME_ENV: str(paths.home), "HF_ENDPOINT": "http://127.0.0.1:9"}
    command = "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run(
        [sys.executable, "-c", command, *arguments],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def seed_docs(paths: object) -> None:
    """The handbook, indexed by the starter (the only model here: the embedder a person
    without a sentence encoder would get)."""
    from app.core.paths import Paths

    assert isinstance(paths, Paths)
    # A folder a person would have (the page shows it as ~/Documents/Handbook: main()
    # makes the seeded folder the home folder too).
    folder = paths.home / "Documents" / "Handbook"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in HANDBOOK.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "draft.md").write_text("", encoding="utf-8")  # skipped, and the tab says why
    cli(paths, "docs", "add", "Handbook", str(folder))


def grab(widget: object, path: Path) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication, QWidget

    assert isinstance(widget, QWidget)
    for _ in range(3):
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    image = widget.grab().toImage()
    if not image.save(str(path)):
        raise SystemExit(f"make_screenshots: could not write {path}")
    print(path)


def wait(predicate: Callable[[], bool], seconds: float = 30.0) -> None:
    import time

    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit("make_screenshots: timed out waiting for the window")
        QApplication.processEvents()
        time.sleep(0.02)


def shots(window: object) -> Iterator[tuple[str, Callable[[], object]]]:
    """(name, show it and return the widget to grab), for every page, tab and dialog."""
    from app.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)

    def page(name: str, tab: str | None = None) -> Callable[[], object]:
        def show() -> object:
            window.show_page(name)
            if name == "Documents":
                window.docs_page.refresh()  # back from the empty state's picture
            widget = window.pages.currentWidget()
            tabs = getattr(widget, "tabs", None)
            if tab is not None and tabs is not None:
                for index in range(tabs.count()):
                    if tabs.tabText(index).replace("&", "").startswith(tab):
                        tabs.setCurrentIndex(index)
            return window

        return show

    chat = window.chat_page

    def conversation(title: str) -> Callable[[], object]:
        def show() -> object:
            window.show_page("Chat")
            found = next(c for c in chat.conversations.list_conversations() if c.title == title)
            chat.open_conversation(found.id)
            return window

        return show

    def new_conversation() -> object:
        window.show_page("Chat")
        chat.new_conversation()
        return window

    def hub_unreachable() -> object:
        """A search while the Hub cannot be reached: what people offline see (the
        seeded window's endpoint is a closed port on this machine)."""
        window.show_page("Models")
        models = window.models_page
        models.show_tab("Search the Hub")
        search = models.search
        search.query.setText("qwen2.5 instruct")
        search.search()
        wait(lambda: search.repos_stack.state == "error")
        return window

    def documents_empty() -> object:
        """The page as it is before the first collection (the seeded one set aside)."""
        window.show_page("Documents")
        docs = window.docs_page
        docs.stack.setCurrentWidget(docs.empty)
        docs.new_button.hide()
        return window

    for name in window.PAGES:
        if name == "Chat":
            yield "chat", conversation(CONVERSATIONS[0][0])
            yield "chat-cut-reply", conversation(CONVERSATIONS[2][0])
            yield "chat-new", new_conversation
            continue
        widget = window.pages.widget(window.PAGES.index(name))
        if name == "Documents":
            yield "documents-empty", documents_empty
        tabs = getattr(widget, "tabs", None)
        if tabs is None:
            yield name.lower(), page(name)
            continue
        for index in range(tabs.count()):
            tab = tabs.tabText(index).replace("&", "")
            slug = tab.split(" (")[0].lower().replace(" ", "-")  # "Skipped (1)": skipped
            yield f"{name.lower()}-{slug}", page(name, tab)
            if tab == "Search the Hub":
                yield "models-search-the-hub-unreachable", hub_unreachable


def forget_new_conversations(window: object) -> None:
    """Delete the empty conversation the "chat-new" picture made, so no other picture
    lists a stray "New conversation"."""
    from app.core.chat.saved import NEW_TITLE
    from app.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    chat = window.chat_page
    for found in chat.conversations.list_conversations():
        if found.title == NEW_TITLE:
            chat.conversations.delete_conversation(found.id)
    first = next(c for c in chat.conversations.list_conversations())
    chat.open_conversation(first.id)
    chat.refresh_conversations()


def dialogs(window: object) -> Iterator[tuple[str, Callable[[], object]]]:
    from PySide6.QtWidgets import QDialog

    from app.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    from app.core.chat.sampling import DEFAULT_PRESET, preset
    from app.ui.chat.dialogs import SamplingDialog, SystemPromptDialog
    from app.ui.classify.options import OptionsDialog
    from app.ui.models.settings_dialog import SettingsDialog

    def opened(make: Callable[[], QDialog]) -> Callable[[], QDialog]:
        def show() -> QDialog:
            dialog = make()
            dialog.show()
            return dialog

        return show

    yield "dialog-welcome", window.show_welcome
    yield "dialog-shortcuts", window.show_shortcuts
    yield "dialog-api", window.show_api
    yield "dialog-sampling", opened(lambda: SamplingDialog(preset(DEFAULT_PRESET), window))
    yield (
        "dialog-system-prompt",
        opened(lambda: SystemPromptDialog("Answer in one short paragraph.", window)),
    )
    yield (
        "dialog-classify-options",
        opened(lambda: OptionsDialog(window.classify_page.scoring, window)),
    )
    yield (
        "dialog-models-settings",
        opened(
            lambda: SettingsDialog(
                window.download_queue.settings, window.store.paths.models_dir, window
            )
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--theme", choices=THEMES, action="append")
    parser.add_argument("--size", action="append", help="WIDTHxHEIGHT")
    parser.add_argument("--only", help="only shots whose name contains this")
    args = parser.parse_args(argv)
    themes = args.theme or list(THEMES)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.size] if args.size else SIZES
    args.out.mkdir(parents=True, exist_ok=True)

    home = Path(tempfile.mkdtemp(prefix="driftless-shots-"))
    from app.core.paths import HOME_ENV

    os.environ[HOME_ENV] = str(home)
    os.environ["HOME"] = str(home)  # paths under it show as ~/…, not as a temp folder
    os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # never the network
    seed(home)

    from PySide6.QtWidgets import QApplication, QDialog

    from app.core.models.store import ModelStore
    from app.core.paths import get_paths
    from app.ui import main_window as main_window_module
    from app.ui.application import configure

    app = QApplication.instance() or QApplication(["driftless"])
    assert isinstance(app, QApplication)
    configure(app)
    from app.ui import theme

    installed = theme.installed()
    assert installed is not None
    main_window_module.OFFER_STARTER_CHECK = False
    store = ModelStore(get_paths(home))
    window = main_window_module.MainWindow(store)
    window.window_state.mark_welcomed()
    window.show()
    wait(lambda: window.starter_checked)
    wait(lambda: window.chat_page.controller.loaded is not None)
    classify = window.classify_page
    window.show_page("Classify")
    classify.refresh_runs()
    run_id = classify.runs.list_runs()[0].id
    classify.evaluate_run(run_id)
    wait(lambda: classify.eval_tab.matrix.scores is not None, 120)
    classify.controller.open_run(run_id)
    wait(lambda: classify.file_tab.model.rowCount() > 0, 60)
    docs = window.docs_page
    window.show_page("Documents")
    docs.refresh(select="Handbook")
    docs.search_box.setText(DOCS_QUERY)
    docs.search()
    wait(lambda: bool(docs.hits_view.hits), 60)
    window.show_page("Chat")
    for scheme in themes:
        installed.apply(scheme)
        for width, height in sizes:
            window.resize(width, height)
            for name, show in [*shots(window), *dialogs(window)]:
                if args.only and args.only not in name:
                    continue
                shown = show()
                target = shown if isinstance(shown, QDialog) else window
                grab(target, args.out / f"{scheme}-{width}x{height}-{name}.png")
                if isinstance(shown, QDialog):
                    shown.close()
                if name == "chat-new":
                    forget_new_conversations(window)
                if name == "models-search-the-hub-unreachable":
                    search = window.models_page.search
                    search.query.clear()
                    search.repos_stack.show_empty()  # as before a search, for the next size
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
