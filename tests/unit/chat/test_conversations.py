"""Conversation storage: CRUD, branches, streaming replies, search, export, damage."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.core.chat import conversations as conversations_module
from app.core.chat.conversations import (
    MATCH_END,
    MATCH_START,
    ConversationError,
    ConversationNotFound,
    ConversationStore,
    ModelProvenance,
    ReplyStats,
    SkippedRow,
)
from app.core.errors import Cancelled, DriftlessError
from app.core.paths import Paths

ROOT = Path(__file__).resolve().parents[3]
MODEL = ModelProvenance(
    lock_id="HuggingFaceTB/SmolLM2-135M-Instruct-GGUF@" + "c" * 40 + "/smol.Q4_1.gguf",
    sha256="5" * 64,
)
PARAMS = {"temperature": 0.7, "top_p": 0.9, "seed": 42}


@pytest.fixture
def convs(paths: Paths) -> Iterator[ConversationStore]:
    store = ConversationStore(paths)
    yield store
    store.close()


def reply(convs: ConversationStore, conversation_id: int, text: str) -> int:
    """A finished assistant reply, written the way the chat worker writes one."""
    with convs.begin_reply(conversation_id, MODEL, PARAMS) as writer:
        for word in text.split(" "):
            writer.append(word + " ")
    return writer.message_id


def contents(messages: list[conversations_module.Message]) -> list[str]:
    return [message.content for message in messages]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- conversations ------------------------------------------------------------------------


def test_create_get_rename_and_settings(convs: ConversationStore) -> None:
    created = convs.create_conversation(
        "Trip", model_id="smollm2", system_prompt="Be brief.", preset="precise", params=PARAMS
    )
    got = convs.get_conversation(created.id)
    assert got == created
    assert (got.title, got.model_id, got.system_prompt, got.preset) == (
        "Trip",
        "smollm2",
        "Be brief.",
        "precise",
    )
    assert dict(got.params) == PARAMS
    assert got.current_leaf_id is None and not got.deleted

    renamed = convs.rename_conversation(created.id, "Trip to Lyon")
    assert renamed.title == "Trip to Lyon"
    assert renamed.updated_at > created.updated_at

    changed = convs.update_settings(created.id, model_id=None, params={"temperature": 0.1})
    assert changed.model_id is None
    assert dict(changed.params) == {"temperature": 0.1}
    assert (changed.system_prompt, changed.preset) == ("Be brief.", "precise"), "left as they were"
    changed = convs.update_settings(created.id, system_prompt="", preset=None)
    assert (changed.system_prompt, changed.preset) == ("", None)


def test_list_is_most_recently_updated_first(convs: ConversationStore) -> None:
    a = convs.create_conversation("a")
    b = convs.create_conversation("b")
    c = convs.create_conversation("c")
    assert [x.title for x in convs.list_conversations()] == ["c", "b", "a"]
    convs.add_user_message(a.id, "hello")
    assert [x.title for x in convs.list_conversations()] == ["a", "c", "b"]
    convs.rename_conversation(b.id, "b2")
    assert [x.title for x in convs.list_conversations()] == ["b2", "a", "c"]
    reply(convs, c.id, "a reply")
    assert [x.id for x in convs.list_conversations()] == [c.id, b.id, a.id]


def test_unknown_ids_raise_not_found(convs: ConversationStore) -> None:
    with pytest.raises(ConversationNotFound, match="no conversation 99"):
        convs.get_thread(99)
    with pytest.raises(ConversationNotFound):
        convs.add_user_message(99, "hi")
    with pytest.raises(ConversationNotFound, match="no message 7"):
        convs.edit_message(7, "x")


def test_soft_delete_restore_and_purge(convs: ConversationStore) -> None:
    keep = convs.create_conversation("keep")
    gone = convs.create_conversation("gone")
    convs.add_user_message(gone.id, "remember the zeppelin")
    convs.delete_conversation(gone.id)

    assert [x.id for x in convs.list_conversations()] == [keep.id]
    assert [x.id for x in convs.list_conversations(deleted=True)] == [gone.id]
    assert convs.search("zeppelin") == [], "deleted conversations are not searched"
    assert convs.get_conversation(gone.id).deleted

    restored = convs.restore_conversation(gone.id)
    assert not restored.deleted
    assert contents(convs.get_thread(gone.id)) == ["remember the zeppelin"]
    assert [hit.conversation_id for hit in convs.search("zeppelin")] == [gone.id]

    convs.delete_conversation(gone.id)
    assert convs.purge_deleted(older_than=timedelta(days=30)) == 0, "deleted just now"
    assert convs.purge_deleted() == 1
    assert convs.list_conversations(deleted=True) == []
    with pytest.raises(ConversationNotFound):
        convs.restore_conversation(gone.id)
    assert convs.search("zeppelin") == []
    newer = convs.create_conversation("new")
    assert newer.id > gone.id, "ids are never reused, so a stale reference cannot hit another"


# --- threads and branches -----------------------------------------------------------------


def test_regenerate_keeps_the_old_reply_as_a_branch(convs: ConversationStore) -> None:
    conv = convs.create_conversation()
    convs.add_message(conv.id, "system", "You are terse.")
    question = convs.add_user_message(conv.id, "Capital of France?")
    first = reply(convs, conv.id, "Paris.")

    thread = convs.regenerate(conv.id)
    assert [m.id for m in thread][-1] == question.id
    assert contents(convs.get_thread(conv.id)) == ["You are terse.", "Capital of France?"]
    assert convs.regenerate(conv.id) == thread, "nothing more to set aside"

    second = reply(convs, conv.id, "It is Paris.")
    assert contents(convs.get_thread(conv.id))[-1] == "It is Paris. "
    assert [m.id for m in convs.siblings(second)] == [first, second]
    assert convs.get_message(first).content == "Paris. ", "the old reply is kept"

    back = convs.switch_branch(first)
    assert [m.id for m in back] == [thread[0].id, question.id, first]
    assert convs.get_conversation(conv.id).current_leaf_id == first


def test_edit_keeps_later_messages_in_the_old_branch(convs: ConversationStore) -> None:
    conv = convs.create_conversation()
    q1 = convs.add_user_message(conv.id, "one")
    a1 = reply(convs, conv.id, "uno")
    q2 = convs.add_user_message(conv.id, "two")
    a2 = reply(convs, conv.id, "dos")

    thread = convs.edit_message(q2.id, "deux?")
    assert [m.id for m in thread[:2]] == [q1.id, a1]
    assert contents(thread)[2:] == ["deux?"]
    edited = thread[-1]
    assert edited.parent_id == a1 and edited.role == "user"
    assert convs.get_thread(conv.id) == thread

    a2b = reply(convs, conv.id, "deux")
    assert contents(convs.get_thread(conv.id)) == ["one", "uno ", "deux?", "deux "]
    assert [m.id for m in convs.siblings(q2.id)] == [q2.id, edited.id]

    # Switching to the old question brings its whole branch back, down to its reply.
    old = convs.switch_branch(q2.id)
    assert [m.id for m in old] == [q1.id, a1, q2.id, a2]
    assert convs.switch_branch(edited.id)[-1].id == a2b
    assert len(convs.all_messages(conv.id)) == 6

    with pytest.raises(ConversationError, match="Only your own messages"):
        convs.edit_message(a1, "rewritten reply")


def test_branch_siblings_lists_every_alternative_in_one_read(convs: ConversationStore) -> None:
    conv = convs.create_conversation()
    q1 = convs.add_user_message(conv.id, "one")
    a1 = reply(convs, conv.id, "uno")
    convs.regenerate(conv.id)
    a1b = reply(convs, conv.id, "eins")
    q1b = convs.edit_message(q1.id, "one?")[-1]
    siblings = convs.branch_siblings(conv.id)
    questions, replies = (q1.id, q1b.id), (a1, a1b)
    assert siblings == {q1.id: questions, q1b.id: questions, a1: replies, a1b: replies}
    assert convs.branch_siblings(convs.create_conversation().id) == {}


def test_editing_the_first_message_starts_a_new_root(convs: ConversationStore) -> None:
    conv = convs.create_conversation()
    first = convs.add_user_message(conv.id, "hi")
    reply(convs, conv.id, "hello")
    thread = convs.edit_message(first.id, "hey")
    assert contents(thread) == ["hey"]
    assert thread[0].parent_id is None
    assert [m.content for m in convs.siblings(first.id)] == ["hi", "hey"]


# --- the reply writer ---------------------------------------------------------------------


def on_disk(paths: Paths, message_id: int) -> tuple[str, str]:
    """What a fresh connection (another process, after a crash) reads for a message."""
    conn = sqlite3.connect(paths.conversations_db)
    try:
        row = conn.execute(
            "SELECT content, status FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
    finally:
        conn.close()
    return row[0], row[1]


def test_writer_flushes_every_n_chunks(convs: ConversationStore, paths: Paths) -> None:
    conv = convs.create_conversation()
    convs.add_user_message(conv.id, "count")
    clock = FakeClock()
    writer = convs.begin_reply(conv.id, MODEL, PARAMS, flush_every=4, clock=clock)
    assert on_disk(paths, writer.message_id) == ("", "incomplete")

    for i in range(10):
        writer.append(f"{i},")
    assert writer.text == "0,1,2,3,4,5,6,7,8,9,"
    assert on_disk(paths, writer.message_id) == ("0,1,2,3,4,5,6,7,", "incomplete")
    assert convs.get_thread(conv.id)[-1].status == "incomplete"

    done = writer.finish(
        stats=ReplyStats(prompt_tokens=12, completion_tokens=10, tokens_per_second=31.5)
    )
    assert on_disk(paths, writer.message_id) == ("0,1,2,3,4,5,6,7,8,9,", "complete")
    assert (done.prompt_tokens, done.completion_tokens, done.tokens_per_second) == (12, 10, 31.5)
    assert (done.model_lock_id, done.model_sha256) == (MODEL.lock_id, MODEL.sha256)
    assert dict(done.params or {}) == PARAMS
    with pytest.raises(RuntimeError, match="already finished"):
        writer.append("more")


def test_writer_flushes_when_the_interval_has_passed(
    convs: ConversationStore, paths: Paths
) -> None:
    conv = convs.create_conversation()
    clock = FakeClock()
    writer = convs.begin_reply(
        conv.id, MODEL, PARAMS, flush_every=1000, flush_interval=0.25, clock=clock
    )
    writer.append("a")
    clock.now = 0.1
    writer.append("b")
    assert on_disk(paths, writer.message_id)[0] == ""
    clock.now = 0.26
    writer.append("c")
    assert on_disk(paths, writer.message_id)[0] == "abc"
    clock.now = 0.4
    writer.append("d")
    assert on_disk(paths, writer.message_id)[0] == "abc", "0.14 s since the last flush"
    writer.flush()
    assert on_disk(paths, writer.message_id) == ("abcd", "incomplete")


def test_writer_context_records_cancel_and_error(convs: ConversationStore) -> None:
    conv = convs.create_conversation()
    with pytest.raises(Cancelled), convs.begin_reply(conv.id, MODEL, PARAMS) as writer:
        writer.append("half a")
        raise Cancelled()
    cancelled = convs.get_message(writer.message_id)
    assert (cancelled.status, cancelled.content) == ("cancelled", "half a")

    with pytest.raises(OSError), convs.begin_reply(conv.id, MODEL, PARAMS) as writer:
        writer.append("x")
        raise OSError("the engine died")
    failed = convs.get_message(writer.message_id)
    assert (failed.status, failed.error, failed.content) == ("error", "the engine died", "x")


def test_gui_thread_reads_while_a_worker_writes(convs: ConversationStore) -> None:
    conv = convs.create_conversation()
    convs.add_user_message(conv.id, "go")
    chunks = [f"w{i} " for i in range(200)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with convs.begin_reply(conv.id, MODEL, PARAMS, flush_every=1) as writer:
                for chunk in chunks:
                    writer.append(chunk)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    seen: list[str] = []
    while worker.is_alive():
        thread = convs.get_thread(conv.id)
        if thread[-1].role == "assistant":
            seen.append(thread[-1].content)
    worker.join()
    assert errors == []
    final = "".join(chunks)
    assert convs.get_thread(conv.id)[-1].content == final
    assert len(set(seen)) > 1, "the reader saw the reply grow"
    assert all(final.startswith(text) for text in seen), "readers only ever see a prefix"
    assert [len(text) for text in seen] == sorted(len(text) for text in seen)


def test_a_reply_killed_mid_stream_survives_as_incomplete(
    convs: ConversationStore, paths: Paths
) -> None:
    conv = convs.create_conversation("kill me")
    convs.add_user_message(conv.id, "first question")
    reply(convs, conv.id, "first answer")
    convs.add_user_message(conv.id, "second question")
    script = textwrap.dedent(
        """
        import sys
        from app.core.chat.conversations import ConversationStore, ModelProvenance
        from app.core.paths import get_paths
        store = ConversationStore(get_paths(sys.argv[1]))
        writer = store.begin_reply(
            int(sys.argv[2]), ModelProvenance("r@c/f.gguf", "a" * 64), {"seed": 1},
            flush_every=5, flush_interval=3600,
        )
        i = 0
        while True:  # never finishes: only a kill ends it
            writer.append(f"t{i} ")
            i += 1
            if i % 5 == 0:
                print(i, flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(paths.home), str(conv.id)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    try:
        while int(proc.stdout.readline() or "-1") < 200:
            assert proc.poll() is None, "the writer process died on its own"
    finally:
        proc.kill()  # SIGKILL: no finish(), no atexit, no clean close
        proc.wait()
        proc.stdout.close()

    restarted = ConversationStore(paths)
    thread = restarted.get_thread(conv.id)
    assert contents(thread[:3]) == ["first question", "first answer ", "second question"]
    assert [m.status for m in thread[:3]] == ["complete"] * 3
    partial = thread[3]
    assert (partial.role, partial.status, partial.model_lock_id) == (
        "assistant",
        "incomplete",
        "r@c/f.gguf",
    )
    words = partial.content.split()
    assert len(words) >= 200 and len(words) % 5 == 0, "whole flushes only"
    assert partial.content == "".join(f"t{i} " for i in range(len(words)))
    assert [hit.message_id for hit in restarted.search("t150")] == [partial.id]
    conn = sqlite3.connect(paths.conversations_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# --- search and export --------------------------------------------------------------------


def test_search_finds_words_across_conversations(convs: ConversationStore) -> None:
    a = convs.create_conversation("Bread")
    b = convs.create_conversation("Travel")
    convs.add_user_message(a.id, "How long should sourdough rise?")
    reply(convs, a.id, "Let the sourdough rise overnight in the fridge.")
    convs.add_user_message(b.id, "Is the Café de Flore open on Sundays?")

    hits = convs.search("sourdough rise")
    assert {hit.conversation_id for hit in hits} == {a.id}
    assert len(hits) == 2
    assert all(f"{MATCH_START}sourdough{MATCH_END}" in hit.snippet for hit in hits)
    assert hits[0].conversation_title == "Bread"

    assert [hit.conversation_id for hit in convs.search("cafe")] == [b.id], "accents folded"
    assert [hit.conversation_id for hit in convs.search("sund")] == [b.id], "last word: prefix"
    assert convs.search("sourdough Sundays") == []
    for odd in ['"', "AND", "NEAR(", "*", "x OR", "-", "'; DROP TABLE messages; --"]:
        assert isinstance(convs.search(odd), list), "user input is never query syntax"
    assert convs.search("   ") == []


def test_search_without_fts5_and_index_rebuild_when_it_returns(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversations_module, "fts5_available", lambda: False)
    plain = ConversationStore(paths)
    conv = plain.create_conversation("Garden")
    plain.add_user_message(conv.id, "Tomatoes need 100% sun, snails_hate copper.")
    hits = plain.search("TOMATOES copper")
    assert [hit.conversation_id for hit in hits] == [conv.id]
    assert f"{MATCH_START}Tomatoes{MATCH_END}" in hits[0].snippet
    assert plain.search("100%") != [] and plain.search("0%s") == [], "% is literal"
    assert plain.search("snails_hate") != [] and plain.search("snailsXhate") == []

    monkeypatch.setattr(conversations_module, "fts5_available", lambda: True)
    indexed = ConversationStore(paths)
    assert [hit.conversation_id for hit in indexed.search("tomatoes")] == [conv.id], (
        "messages written without the index are indexed when it comes back"
    )


def make_exportable(convs: ConversationStore) -> tuple[int, int, int]:
    conv = convs.create_conversation(
        "Haiku", model_id="smollm2", system_prompt="Write haiku.", preset="creative"
    )
    convs.add_user_message(conv.id, "About rain")
    old = reply(convs, conv.id, "drops on a tin roof")
    convs.regenerate(conv.id)
    with convs.begin_reply(conv.id, MODEL, PARAMS) as writer:
        writer.append("grey sky, soft patter")
        writer.finish(stats=ReplyStats(8, 6, 42.0))
    return conv.id, old, writer.message_id


def test_export_markdown(convs: ConversationStore, tmp_path: Path) -> None:
    conv_id, _, _ = make_exportable(convs)
    target = tmp_path / "out" / "haiku.md"
    convs.export_markdown(conv_id, target)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Haiku\n")
    assert "## System prompt\n\nWrite haiku." in text
    assert "## User\n\nAbout rain" in text
    assert "grey sky, soft patter" in text
    assert "drops on a tin roof" not in text, "only the current thread"
    assert f"`{MODEL.lock_id}` · 6 tokens · 42.0 tokens/s" in text
    assert list(target.parent.iterdir()) == [target], "no temp file left behind"


def test_export_json_has_every_branch_with_provenance(
    convs: ConversationStore, tmp_path: Path
) -> None:
    conv_id, old, new = make_exportable(convs)
    target = tmp_path / "haiku.json"
    convs.export_json(conv_id, target)
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["format"] == "driftless.conversation" and data["format_version"] == 1
    assert data["conversation"]["title"] == "Haiku"
    assert data["conversation"]["preset"] == "creative"
    messages = {m["id"]: m for m in data["messages"]}
    assert old in messages and new in messages
    assert data["current_thread"][-1] == new and old not in data["current_thread"]
    provenance = messages[new]["provenance"]
    assert provenance == {
        "model_lock_id": MODEL.lock_id,
        "model_sha256": MODEL.sha256,
        "params": PARAMS,
        "prompt_tokens": 8,
        "completion_tokens": 6,
        "tokens_per_second": 42.0,
    }
    assert messages[old]["provenance"]["model_sha256"] == MODEL.sha256
    assert messages[data["current_thread"][0]]["provenance"]["model_lock_id"] is None


# --- damage -------------------------------------------------------------------------------


def test_bad_rows_are_skipped_and_reported(convs: ConversationStore, paths: Paths) -> None:
    good = convs.create_conversation("good")
    bad = convs.create_conversation("bad")
    convs.add_user_message(good.id, "before")
    broken = reply(convs, good.id, "broken reply")
    convs.add_user_message(good.id, "after")
    conn = sqlite3.connect(paths.conversations_db)
    with conn:
        conn.execute("UPDATE messages SET params_json = '{not json' WHERE id = ?", (broken,))
        conn.execute("UPDATE conversations SET params_json = '[1, 2' WHERE id = ?", (bad.id,))
    conn.close()

    assert [c.id for c in convs.list_conversations()] == [good.id]
    assert contents(convs.get_thread(good.id)) == ["before", "after"]
    skipped = convs.skipped_rows()
    assert {(s.table, s.row_id) for s in skipped} == {
        ("conversations", bad.id),
        ("messages", broken),
    }
    assert all("not valid JSON" in s.reason for s in skipped)
    with pytest.raises(ConversationError, match=f"Conversation {bad.id} cannot be read"):
        convs.get_thread(bad.id)
    # Writing still works, and the thread still hangs together through the bad row.
    convs.add_user_message(good.id, "later")
    assert contents(convs.get_thread(good.id)) == ["before", "after", "later"]
    assert SkippedRow("messages", broken, skipped[-1].reason) in convs.skipped_rows()


def test_garbage_file_gives_a_readable_error(paths: Paths) -> None:
    paths.conversations_db.write_bytes(b"definitely not a database " * 400)
    convs = ConversationStore(paths)
    with pytest.raises(ConversationError, match=r"is damaged.*move the file aside") as info:
        convs.list_conversations()
    assert isinstance(info.value, DriftlessError)
    assert str(paths.conversations_db) in str(info.value)


def test_newer_schema_gives_a_readable_error(convs: ConversationStore, paths: Paths) -> None:
    convs.create_conversation()
    conn = sqlite3.connect(paths.conversations_db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ConversationError, match=r"newer Driftless.*schema 99"):
        ConversationStore(paths).list_conversations()


def test_schema_is_versioned_and_wal(convs: ConversationStore, paths: Paths) -> None:
    convs.create_conversation()
    conn = sqlite3.connect(paths.conversations_db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == (
            conversations_module.SCHEMA_VERSION
        )
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_a_dangling_leaf_falls_back_to_the_newest_message(
    convs: ConversationStore, paths: Paths
) -> None:
    conv = convs.create_conversation()
    convs.add_user_message(conv.id, "q")
    reply(convs, conv.id, "a")
    conn = sqlite3.connect(paths.conversations_db)
    with conn:
        conn.execute("UPDATE conversations SET current_leaf_id = 12345")
    conn.close()
    assert contents(convs.get_thread(conv.id)) == ["q", "a "]


def test_import_json_brings_back_every_branch_and_the_current_thread(
    convs: ConversationStore, tmp_path: Path
) -> None:
    conv = convs.create_conversation("Branches", system_prompt="Be brief.", preset="Precise")
    question = convs.add_user_message(conv.id, "Question")
    reply(convs, conv.id, "First")
    convs.regenerate(conv.id)
    second = reply(convs, conv.id, "Second")
    convs.switch_branch(convs.siblings(second)[0].id)
    target = tmp_path / "export.json"
    convs.export_json(conv.id, target)

    imported = convs.import_json(target)
    assert imported.id != conv.id
    assert (imported.title, imported.system_prompt, imported.preset) == (
        "Branches",
        "Be brief.",
        "Precise",
    )
    assert contents(convs.get_thread(imported.id)) == ["Question", "First "]
    new_reply = convs.get_thread(imported.id)[-1]
    assert [m.content for m in convs.siblings(new_reply.id)] == ["First ", "Second "]
    assert new_reply.model_lock_id == convs.get_message(second).model_lock_id
    assert convs.get_thread(imported.id)[0].id != question.id


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "cannot be read as JSON"),
        ('{"format": "other"}', "is not a conversation exported by Driftless"),
        ('{"format": "driftless.conversation", "format_version": 99}', "newer Driftless"),
    ],
)
def test_import_refuses_other_files_with_a_sentence(
    convs: ConversationStore, tmp_path: Path, text: str, problem: str
) -> None:
    from app.core.chat.export import ImportProblem

    target = tmp_path / "bad.json"
    target.write_text(text)
    with pytest.raises(ImportProblem, match=problem):
        convs.import_json(target)
    assert convs.list_conversations() == []
