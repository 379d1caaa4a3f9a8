"""One loading pipeline, one host: every feature shares one load of the real starter."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.chat import engine as engine_module
from app.core.chat.engine import Engine
from app.core.chat.sampling import SamplingParams
from app.core.classify.runner import ModelRunner
from app.core.errors import ModelLoadError
from app.core.models.loading import acquire, configured_host
from app.core.models.store import ModelStore
from app.core.runtime import gpu
from app.core.runtime.host import MemoryBudgetExceeded, WeightsKey, default_host
from app.core.runtime.results import GenerationError
from app.core.runtime.template import user
from app.core.serve.text_engine import ApiEngine
from app.core.settings import SettingsError, load_settings, save_settings

GREEDY = SamplingParams(temperature=0.0, max_tokens=8)


@pytest.fixture
def starter_store(store: ModelStore, starter_copy: Path) -> Iterator[ModelStore]:
    """The starter from a file of this test's own, so that no other test's model (the
    host is the process's) shares its weights."""
    model = store.import_file(starter_copy, link=True)
    store.set_active(model.id)
    yield store


def loads(store: ModelStore) -> int:
    return default_host().loads(path=str(store.resolve(None).path))


@pytest.mark.slow
def test_chat_embeddings_api_and_classification_share_one_load(
    starter_store: ModelStore,
) -> None:
    before = loads(starter_store)
    with (
        Engine(starter_store) as chat,
        ApiEngine(starter_store, user="the API server") as api,
    ):
        chat.load()
        api.load()
        reply = "".join(chat.stream_chat([user("Hi")], GREEDY))
        assert reply == "".join(api.stream_chat([user("Hi")], GREEDY))
        vectors = api.embed(["a first text", "a second"])
        assert len(vectors.vectors) == 2
        with ModelRunner.open(starter_store, n_threads=1, unpack=False) as runner:
            assert runner.info.weights == "Q4_1"
            path = str(starter_store.resolve(None).path)
            (held,) = [h for h in default_host().held() if h.key.path == path]
            assert held.leases == 3
            assert held.users == ("chat", "classification", "the API server")
    assert loads(starter_store) == before + 1


@pytest.mark.slow
def test_a_released_model_is_found_warm_by_the_next_user(starter_store: ModelStore) -> None:
    before = loads(starter_store)
    with Engine(starter_store) as chat:
        chat.load()
    with Engine(starter_store, user="behaviour checks") as checks:
        loaded = checks.load()
    assert loads(starter_store) == before + 1
    assert loaded.model_id == starter_store.resolve(None).id
    default_host().unload_idle()
    path = str(starter_store.resolve(None).path)
    assert not [h for h in default_host().held() if h.key.path == path]


@pytest.mark.slow
def test_a_model_over_the_budget_is_refused_with_the_figures(
    starter_store: ModelStore,
) -> None:
    save_settings(
        starter_store.paths, load_settings(starter_store.paths).with_changes(memory_budget_mb=50)
    )
    with pytest.raises(MemoryBudgetExceeded) as caught:
        Engine(starter_store).load()
    message = str(caught.value)
    assert message.startswith(f"{starter_store.resolve(None).id} needs ")
    assert "is free within Driftless' memory budget of 50 MB." in message
    assert "raise the memory budget in Settings" in message
    path = str(starter_store.resolve(None).path)
    assert not [h for h in default_host().held() if h.key.path == path]


@pytest.mark.slow
def test_the_budget_names_who_holds_the_memory(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Engine(starter_store) as chat:
        chat.load()
        held = default_host().in_use()
        # Room for what chat holds and a little more: a second context does not fit.
        monkeypatch.setenv("DRIFTLESS_MEMORY_BUDGET", str((held + 5_000_000) // 1_000_000))
        with pytest.raises(MemoryBudgetExceeded) as caught:
            Engine(starter_store, user="the API server").load()
        message = str(caught.value)
        model_id = re.escape(starter_store.resolve(None).id)
        assert re.search(rf"Loaded now: .*{model_id} \([\d.]+ MB, for chat\)", message)
        assert "Stop the API server or close what uses them" in message
        # The chat that was there keeps working.
        assert "".join(chat.stream_chat([user("Hi")], GREEDY))


def test_a_bad_budget_in_the_environment_is_a_sentence(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLESS_MEMORY_BUDGET", "lots")
    with pytest.raises(SettingsError, match="DRIFTLESS_MEMORY_BUDGET is 'lots'; give it in MB"):
        configured_host(starter_store.paths)
    with pytest.raises(SettingsError, match="DRIFTLESS_MEMORY_BUDGET"):
        acquire(starter_store, None, user="chat")


# --- GPU offload: a failure on the GPU is a sentence and a load on the CPU -----------------

FAKE_GPU = gpu.Device(
    name="Vulkan0",
    description="Test GPU",
    backend="Vulkan",
    kind="gpu",
    memory_free=8 * 10**9,
    memory_total=8 * 10**9,
    driver="testdrv",
)


@pytest.fixture
def a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """ggml reports one GPU (the venv's llama.cpp has none: asked to offload, it loads
    every layer on the CPU, so the real model still runs)."""
    found = gpu.Backends((FAKE_GPU,), "", ("Vulkan", "CPU"))
    monkeypatch.setattr(gpu, "discover", lambda *_a, **_k: found)


@pytest.mark.slow
@pytest.mark.usefixtures("a_gpu")
def test_a_load_that_fails_on_the_gpu_runs_on_the_cpu_with_a_sentence(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = configured_host(starter_store.paths)
    real = host.acquire
    placements: list[str] = []

    def failing_on_gpu(key: WeightsKey, **kwargs: object) -> object:
        placements.append(key.placement)
        if key.placement != "cpu":
            raise ModelLoadError("llama.cpp could not load m: failed to allocate Vulkan0 buffer")
        return real(key, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(host, "acquire", failing_on_gpu)
    held = acquire(starter_store, None, user="chat", gpu_layers="all")
    try:
        assert placements == ["Vulkan0:31", "cpu"]
        assert not held.offload.on_gpu and held.offload.label() == "CPU"
        assert held.offload.note == (
            "The model could not be loaded on the GPU (Test GPU: llama.cpp could not load m: "
            "failed to allocate Vulkan0 buffer), so it runs on the CPU."
        )
    finally:
        held.release()


@pytest.mark.slow
@pytest.mark.usefixtures("a_gpu")
def test_a_context_out_of_device_memory_reloads_on_the_cpu(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights offloaded, then the context cannot be made on the device (simulated: the
    venv has no GPU): the engine answers on the CPU, and says why."""
    real = engine_module.open_llama
    contexts: list[str] = []

    def out_of_device_memory(path: object, **kwargs: object) -> object:
        placement = [h.key.placement for h in default_host().held() if h.leases]
        contexts.append(placement[-1] if placement else "?")
        if len(contexts) == 1:
            raise ValueError("Failed to create llama_context (ErrorOutOfDeviceMemory)")
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "open_llama", out_of_device_memory)
    with Engine(starter_store, gpu_layers="all") as engine:
        loaded = engine.load()
        assert not loaded.offload.on_gpu
        assert loaded.offload.note.startswith("The context could not be made on the GPU (Test GPU:")
        assert "so the model runs on the CPU" in loaded.offload.note
        assert "".join(engine.stream_chat([user("Hi")], GREEDY)).strip()
    assert contexts[0] == "Vulkan0:31"


@pytest.mark.slow
@pytest.mark.usefixtures("a_gpu")
def test_a_gpu_that_vanishes_mid_reply_leaves_the_next_reply_to_the_cpu(
    starter_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device is lost while answering (a driver reset; simulated): the reply fails with
    a sentence, the next one reloads the model on the CPU, and nothing else is lost."""
    monkeypatch.setattr(gpu, "_lost", None)
    with Engine(starter_store, gpu_layers="all") as engine:
        assert engine.load().offload.on_gpu
        llama = engine.llama
        real_eval = llama.eval
        calls = [0]

        def device_lost(tokens: object) -> None:
            calls[0] += 1
            raise RuntimeError("llama_decode returned -3 (vk::DeviceLostError)")

        monkeypatch.setattr(llama, "eval", device_lost)
        with pytest.raises(GenerationError, match=r"The GPU \(Test GPU\) stopped working"):
            "".join(engine.stream_chat([user("Hi")], GREEDY))
        assert calls[0] == 1 and gpu.lost() is not None
        monkeypatch.setattr(llama, "eval", real_eval)
        reply = "".join(engine.stream_chat([user("Hi")], GREEDY))
        assert reply.strip()
        loaded = engine.loaded
        assert loaded is not None and not loaded.offload.on_gpu
        assert "stopped working" in loaded.offload.note
    monkeypatch.setattr(gpu, "_lost", None)
