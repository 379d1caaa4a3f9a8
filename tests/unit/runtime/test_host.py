"""The model host's bookkeeping: one load per weights, leases, warm models, the budget.

A scripted llama.cpp stands in for the native library here (no model is loaded); the
tests in tests/unit/models/test_loading.py run the same host on the real starter.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from app.core.errors import ModelLoadError
from app.core.runtime.host import MemoryBudgetExceeded, ModelHost, WeightsKey

MB = 1_000_000


class FakeLlama:
    """Just the calls the host makes: load (a handle), size, free."""

    def __init__(self, sizes: dict[str, int] | None = None) -> None:
        self.sizes = sizes or {}
        self.loaded: dict[int, str] = {}
        self.freed: list[str] = []
        self.fail: set[str] = set()
        self.gpu_layers: list[int] = []
        self._next = 0

    def llama_model_default_params(self) -> object:
        return SimpleNamespace(n_gpu_layers=-1)  # llama.cpp's default: every layer

    def llama_model_load_from_file(self, path: bytes, params: Any) -> int | None:
        name = path.decode()
        self.gpu_layers.append(params.n_gpu_layers)
        if name in self.fail:
            return None
        self._next += 1
        self.loaded[self._next] = name
        return self._next

    def llama_model_size(self, handle: int) -> int:
        return self.sizes.get(self.loaded[handle], 100 * MB)

    def llama_model_free(self, handle: int) -> None:
        self.freed.append(self.loaded.pop(handle))


def make_host(lib: FakeLlama, **kwargs: Any) -> ModelHost:
    kwargs.setdefault("available", lambda: 10_000 * MB)
    host = ModelHost(**kwargs)
    host._lib = lib  # type: ignore[assignment]
    return host


def key(name: str, form: str = "file") -> WeightsKey:
    return WeightsKey(sha256=f"sha-{name}", form=form, path=name)


def test_two_holders_of_one_file_share_one_load() -> None:
    lib = FakeLlama()
    host = make_host(lib)
    chat = host.acquire(key("a"), model_id="a", user="chat", weights_bytes=100 * MB)
    api = host.acquire(key("a"), model_id="a", user="the API server", weights_bytes=100 * MB)
    assert chat.handle == api.handle
    assert host.loads("sha-a") == 1
    assert chat.load_seconds >= 0 and api.load_seconds == 0.0
    (held,) = host.held()
    assert held.leases == 2 and held.users == ("chat", "the API server")


def test_each_weights_form_is_its_own_load() -> None:
    host = make_host(FakeLlama())
    host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB)
    host.acquire(key("a.f16", "f16"), model_id="a", user="classification", weights_bytes=MB)
    assert host.loads() == 2
    assert {h.key.form for h in host.held()} == {"file", "f16"}


def test_a_released_model_stays_warm_until_its_idle_time() -> None:
    lib = FakeLlama()
    host = make_host(lib, idle_seconds=0.2)
    host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB).release()
    assert host.holds(key("a")) and not lib.freed
    again = host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB)
    assert host.loads() == 1  # found warm, not loaded again
    again.release()
    deadline = time.monotonic() + 5
    while host.holds(key("a")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not host.holds(key("a")) and lib.freed == ["a"]


def test_a_lease_taken_while_warm_stops_the_idle_timer() -> None:
    lib = FakeLlama()
    host = make_host(lib, idle_seconds=0.05)
    host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB).release()
    lease = host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB)
    time.sleep(0.2)  # past the idle time: the timer must have been cancelled
    assert host.holds(key("a")) and not lib.freed
    lease.release()


def test_idle_time_zero_frees_at_the_last_release() -> None:
    lib = FakeLlama()
    host = make_host(lib, idle_seconds=0)
    first = host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB)
    second = host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB)
    first.release()
    first.release()  # twice is harmless
    assert host.holds(key("a"))
    second.release()
    assert not host.holds(key("a")) and lib.freed == ["a"]
    with pytest.raises(RuntimeError, match="released"):
        _ = second.handle


def test_a_model_over_the_budget_gets_a_sentence_with_the_figures() -> None:
    lib = FakeLlama({"big": 900 * MB, "small": 300 * MB})
    host = make_host(lib, budget=1000 * MB)
    chat = host.acquire(key("small"), model_id="small-model", user="chat", weights_bytes=300 * MB)
    with pytest.raises(MemoryBudgetExceeded) as caught:
        host.acquire(
            key("big"),
            model_id="gemma3-270m-q4_k_m",
            user="the API server",
            weights_bytes=900 * MB,
            context_bytes=100 * MB,
        )
    message = str(caught.value)
    assert message.startswith("gemma3-270m-q4_k_m needs 1.0 GB of memory; 700 MB is free")
    assert "memory budget of 1.0 GB" in message
    assert "small-model (300 MB, for chat)" in message
    assert "Stop the API server or close what uses them" in message
    assert isinstance(caught.value, ModelLoadError)
    assert caught.value.needed == 1000 * MB and caught.value.free == 700 * MB
    assert host.loads("sha-big") == 0  # refused before llama.cpp saw the file
    chat.release()


def test_idle_models_are_unloaded_to_make_room_oldest_first() -> None:
    lib = FakeLlama({"a": 400 * MB, "b": 400 * MB, "c": 400 * MB})
    host = make_host(lib, budget=1000 * MB)
    for name in ("a", "b"):
        host.acquire(key(name), model_id=name, user="chat", weights_bytes=400 * MB).release()
    host.acquire(key("c"), model_id="c", user="chat", weights_bytes=400 * MB)
    assert lib.freed == ["a"]  # one was enough, and the older went
    assert {h.model_id for h in host.held()} == {"b", "c"}


def test_the_machine_s_free_memory_bounds_the_budget_too() -> None:
    host = make_host(FakeLlama(), available=lambda: 50 * MB)
    with pytest.raises(MemoryBudgetExceeded, match=r"a needs 100 MB of memory; 50 MB is free\."):
        host.acquire(key("a"), model_id="a", user="chat", weights_bytes=100 * MB)


def test_contexts_count_against_the_budget() -> None:
    lib = FakeLlama({"a": 500 * MB})
    host = make_host(lib, budget=1000 * MB)
    lease = host.acquire(key("a"), model_id="a", user="chat", weights_bytes=500 * MB)
    first = lease.add_context(300 * MB)
    assert host.in_use() == 800 * MB
    with pytest.raises(MemoryBudgetExceeded, match="a needs 300 MB of memory; 200 MB is free"):
        lease.add_context(300 * MB, "embeddings")
    lease.drop_context(first)
    lease.add_context(300 * MB, "embeddings")
    assert host.in_use() == 800 * MB


def test_a_file_llama_cpp_cannot_read_is_a_sentence_and_holds_nothing() -> None:
    lib = FakeLlama()
    lib.fail.add("broken")
    host = make_host(lib)
    with pytest.raises(ModelLoadError, match=r"llama\.cpp could not load broken-model"):
        host.acquire(key("broken"), model_id="broken-model", user="chat", weights_bytes=MB)
    assert host.held() == [] and host.loads() == 0


def test_a_failed_check_frees_the_fresh_weights() -> None:
    lib = FakeLlama()
    host = make_host(lib)

    def refuse(_handle: Any, _lib: Any) -> None:
        raise ModelLoadError("not this one")

    with pytest.raises(ModelLoadError, match="not this one"):
        host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB, check=refuse)
    assert lib.freed == ["a"] and not host.held()


def test_many_threads_asking_at_once_load_once() -> None:
    lib = FakeLlama()
    host = make_host(lib)
    leases = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        leases.append(host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert host.loads() == 1 and len({lease.handle for lease in leases}) == 1


def test_a_lease_dropped_without_release_gives_the_weights_back() -> None:
    import gc

    lib = FakeLlama()
    host = make_host(lib, idle_seconds=0)
    lease = host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB)
    assert host.held()[0].leases == 1
    del lease
    gc.collect()
    (held,) = host.held()
    assert held.leases == 0, "released when collected"
    assert not lib.freed, "freed only after a delay, once its contexts are surely gone"
    assert host.unload_idle() == 1 and lib.freed == ["a"]


# --- GPU offload: placement in the key, device memory apart -------------------------------


def test_a_load_without_model_params_never_offloads() -> None:
    """llama.cpp's default n_gpu_layers (-1) would put every layer on any GPU it found."""
    lib = FakeLlama()
    make_host(lib).acquire(key("a"), model_id="a", user="chat", weights_bytes=MB).release()
    assert lib.gpu_layers == [0]


def test_the_same_file_offloaded_is_other_weights() -> None:
    lib = FakeLlama()
    host = make_host(lib)
    on_cpu = host.acquire(key("a"), model_id="a", user="chat", weights_bytes=MB)
    gpu_key = WeightsKey(sha256="sha-a", form="file", path="a", placement="Vulkan0:31")

    def offloaded(llama: Any) -> Any:
        params = llama.llama_model_default_params()
        params.n_gpu_layers = 31
        return params

    on_gpu = host.acquire(
        gpu_key, model_id="a", user="api", weights_bytes=MB, model_params=offloaded
    )
    assert host.loads(path="a") == 2 and lib.gpu_layers == [0, 31]
    assert on_gpu.handle != on_cpu.handle
    on_cpu.release()
    on_gpu.release()


def test_offloaded_layers_count_in_the_device_s_memory_not_the_budget() -> None:
    lib = FakeLlama({"big": 800 * MB})
    host = make_host(lib, budget=500 * MB)
    with pytest.raises(MemoryBudgetExceeded):
        host.acquire(key("big"), model_id="big", user="chat", weights_bytes=800 * MB)
    gpu_key = WeightsKey(sha256="sha-big", form="file", path="big", placement="Vulkan0:all")
    lease = host.acquire(
        gpu_key, model_id="big", user="chat", weights_bytes=800 * MB, device_share=0.75
    )
    assert host.in_use() == 200 * MB, "a quarter of the weights stays in the computer's memory"
    assert host.device_in_use() == 600 * MB
    [held] = host.held()
    assert held.device_bytes == 600 * MB
    lease.release()
