"""The boundary with llama-cpp-python: importing it, keeping it quiet, building models.

Everything in Driftless that touches the native library starts here. ``llama_cpp`` is
imported lazily, the first time it is needed, so starting the app and most tests never
load the native library, and a broken install is a ``ModelLoadError`` sentence rather
than a crash. Its native logging is silenced; the last error lines are kept so that a
failed load or prompt can say what llama.cpp complained about (:func:`last_native_error`).

Every ``llama_cpp.Llama`` is built by :func:`open_llama`, under :data:`LLAMA_LOAD_LOCK`,
and without llama-cpp-python's own compile of the model's chat templates.
:mod:`app.core.chat.engine` re-exports these names.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from app.core.errors import ModelLoadError
from app.core.machine import cpu_floor_problem

log = logging.getLogger(__name__)


def default_threads() -> int:
    """Half the logical CPUs (about the physical cores), at most 8, for prompt and reply.

    llama-cpp-python would use every logical CPU for prompt batches. Its threads meet at
    a spinning barrier after every graph node, so one busy core (another program, the
    GUI thread) stalls them all: on a 2-CPU machine with some load, 16 prompt tokens took
    2-4 s on 2 threads and 0.17 s on 1.
    """
    return max(1, min(8, (os.cpu_count() or 2) // 2))


# --- llama_cpp, imported lazily and kept quiet ------------------------------------------

_native_errors: collections.deque[str] = collections.deque(maxlen=8)
_log_callback: Any = None  # the ctypes callback must outlive every native call
_captured: list[str] | None = None  # every line ggml logs while its backends load
_import_lock = threading.Lock()
_GGML_LOG_ERROR = 4  # ggml_log_level: NONE, DEBUG, INFO, WARN, ERROR, CONT
_GGML_LOG_CONT = 5


def import_llama_cpp() -> ModuleType:
    """Import llama-cpp-python and silence its native logging; a readable error if broken."""
    global _log_callback
    with _import_lock:
        if problem := cpu_floor_problem():
            raise ModelLoadError(problem)  # importing would die of "Illegal instruction"
        try:
            import llama_cpp
        except Exception as exc:  # ImportError, OSError from a missing .so, and worse
            raise ModelLoadError(
                f"The inference library (llama-cpp-python) cannot be loaded: {exc}. "
                "Reinstall it: pip install --force-reinstall llama-cpp-python==0.3.36"
            ) from exc
        if _log_callback is None:
            last_level = [0]

            def on_log(level: int, text: bytes | None, _data: object) -> None:
                # Runs on whichever thread logs; keeps error lines, prints nothing.
                if level != _GGML_LOG_CONT:
                    last_level[0] = level
                if last_level[0] == _GGML_LOG_ERROR and text:
                    _native_errors.append(text.decode("utf-8", "replace").strip())
                if _captured is not None and text:
                    _captured.append(text.decode("utf-8", "replace").rstrip("\n"))

            _log_callback = llama_cpp.llama_log_callback(on_log)
            llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
            _load_backends(llama_cpp)
        return llama_cpp


def import_ggml(llama: ModuleType) -> Any:
    """libggml as llama-cpp-python's ``_ggml`` module loads it (the package does not import
    that module itself), for the few ggml calls an eval callback makes
    (:mod:`app.core.runtime.ggml`).
    ``llama`` is the package :func:`import_llama_cpp` returned."""
    import importlib

    return importlib.import_module(f"{llama.__name__}._ggml").libggml


_CPU_VARIANT = re.compile(r"libggml-cpu-([\w.]+)\.so")
_cpu_kernels = "not loaded yet"


def cpu_kernels() -> str:
    """Which of llama.cpp's CPU kernels run here: a variant name ("haswell", ...) in the
    packaged app, "built in" for a build with one set compiled in (the developer's venv)."""
    return _cpu_kernels


GPU_LIBRARY = "libggml-vulkan.so"
_gpu_library = False


def gpu_library_present() -> bool:
    """Whether this llama.cpp carries a GPU backend library (the packaged app's Vulkan)."""
    return _gpu_library


def library_folder(llama_cpp: ModuleType) -> Path:
    """Where llama-cpp-python loaded libllama from: its package's lib/, or the folder
    ``LLAMA_CPP_LIB_PATH`` names (how tests run the packaged app's libraries)."""
    name = getattr(llama_cpp.llama_cpp._lib, "_name", None)
    if isinstance(name, str) and os.sep in name:
        return Path(name).parent
    return Path(llama_cpp.__file__ or ".").parent / "lib"


def _load_backends(llama_cpp: ModuleType) -> None:
    """Load the best CPU kernels for this processor, and the GPU backend where it can run,
    in a build made of loadable backends.

    The packaged app's llama.cpp (packaging/llama_libs.py) has its CPU code in
    ``libggml-cpu-<variant>.so`` files next to libllama, and its Vulkan backend in
    ``libggml-vulkan.so``; ggml would look for them only beside the executable and in the
    working directory, so it is pointed at them here, before llama_backend_init. Where
    the Vulkan library cannot load (no ``libvulkan.so.1``) ggml goes on without it, and
    :mod:`app.core.runtime.gpu` says why. A native build has its CPU backend compiled in.
    """
    global _cpu_kernels, _gpu_library, _captured
    from app.core.runtime import gpu

    lib = llama_cpp.llama_cpp._lib  # dlsym through it also finds libggml's functions
    lib.ggml_backend_reg_count.restype = ctypes.c_size_t
    folder = library_folder(llama_cpp)
    _gpu_library = (folder / GPU_LIBRARY).is_file()
    lines: list[str] = []
    if lib.ggml_backend_reg_count() == 0 and any(folder.glob("libggml-cpu-*.so")):
        lib.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        _captured = lines
        try:
            lib.ggml_backend_load_all_from_path(os.fsencode(folder))
        finally:
            _captured = None
        _cpu_kernels = _mapped_cpu_variant() or "none"
        if _gpu_library and not _registered(lib, "Vulkan"):
            lines.append(_why_not_loaded(folder / GPU_LIBRARY))
    else:
        _cpu_kernels = "built in"
    gpu.note_load_log(lines)
    log.info("llama.cpp CPU kernels: %s", _cpu_kernels)


def _registered(lib: Any, backend: str) -> bool:
    lib.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
    lib.ggml_backend_reg_get.restype = ctypes.c_void_p
    lib.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_reg_name.restype = ctypes.c_char_p
    names = {
        lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i))
        for i in range(lib.ggml_backend_reg_count())
    }
    return backend.encode() in names


def _why_not_loaded(path: Path) -> str:
    """ggml loads backends silently: a library it could not open says nothing. Opening it
    here gives the system's reason (``libvulkan.so.1: cannot open shared object file``);
    one that opens was loaded but could not start (its own log says more)."""
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        # The packaged app's ctypes (PyInstaller's) replaces the system's reason with "not
        # found when the application was frozen"; the system's is its cause.
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        return f"failed to load {path}: {cause}"
    return f"failed to initialize backend from {path}"


def _mapped_cpu_variant() -> str | None:
    """The CPU variant ggml kept loaded (it unloads the ones it only scored)."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _CPU_VARIANT.search(maps)
    return found.group(1) if found else None


def clear_native_errors() -> None:
    """Forget what llama.cpp logged so far, before a load or a prompt."""
    _native_errors.clear()


def last_native_error(default: str) -> str:
    """The first error llama.cpp logged since the last load or prompt, or ``default``."""
    for line in _native_errors:
        text = re.sub(r"^\w+: ", "", line)
        text = text.removeprefix("error loading model: ").strip().rstrip(".")
        if text:
            return text
    return default.rstrip(".")


# --- building a Llama ---------------------------------------------------------------------

LLAMA_LOAD_LOCK = threading.Lock()
"""Held while any ``Llama`` is built. Loading points file descriptors 1 and 2 (and
``sys.stdout``/``sys.stderr``) at /dev/null for the whole process until it is done, so
two loads at once in two threads could restore them wrongly and silence the process for
good. Every ``Llama`` made anywhere in Driftless must go through :func:`open_llama`."""


def tokenize(
    lib: ModuleType, vocab: Any, text: str, *, add_special: bool, parse_special: bool
) -> list[int]:
    """``text``'s tokens through llama.cpp's C API (the model's ``vocab``): ``add_special``
    adds its begin-of-text token, ``parse_special`` reads markers like ``<|im_end|>`` as
    the special tokens they name (else as plain text)."""
    data = text.encode("utf-8", "replace")
    room = len(data) + 16
    array = (lib.llama_token * room)()
    count = lib.llama_tokenize(vocab, data, len(data), array, room, add_special, parse_special)
    if count < 0:  # the room it needs (not expected: a token is at least one byte)
        room = -count
        array = (lib.llama_token * room)()
        count = lib.llama_tokenize(vocab, data, len(data), array, room, add_special, parse_special)
    return list(array[:count])


def open_llama(path: str | os.PathLike[str], *, model: Any = None, **kwargs: Any) -> Any:
    """Build a quiet ``llama_cpp.Llama`` under :data:`LLAMA_LOAD_LOCK`.

    ``model``: a ``llama_model`` pointer leased from the model host
    (:mod:`app.core.runtime.host`). The ``Llama`` then makes only its own context over
    those weights and never frees them; ``path`` must be the file they came from.

    Raises ``ModelLoadError`` if llama-cpp-python cannot be imported; llama.cpp's own
    failures (``ValueError`` and friends) pass through, and :func:`last_native_error`
    says what llama.cpp logged about them.
    """
    lib = import_llama_cpp()
    with LLAMA_LOAD_LOCK, _borrowing(lib, model), _templates_not_compiled(lib):
        _native_errors.clear()
        return lib.Llama(str(path), verbose=False, **kwargs)


@contextlib.contextmanager
def _borrowing(lib: ModuleType, model: Any) -> Iterator[None]:
    """While a ``Llama`` is built, let it wrap the leased ``model`` instead of loading.

    ``Llama.__init__`` makes its weights with ``llama_cpp._internals.LlamaModel``; the
    stand-in takes the leased pointer and frees nothing when the ``Llama`` closes (the
    host frees the weights when their last lease is gone).
    """
    if model is None:
        yield
        return
    internals = lib._internals
    original = internals.LlamaModel

    class Borrowed(original):  # type: ignore[misc, valid-type]
        def __init__(self, *, path_model: str, params: Any, verbose: bool = True) -> None:
            self.path_model = path_model
            self.params = params
            self.verbose = verbose
            self._exit_stack = contextlib.ExitStack()  # nothing to free: not ours
            self.sampler = None
            self.custom_samplers: list[Any] = []
            self.model = model
            self.vocab = lib.llama_model_get_vocab(model)

    internals.LlamaModel = Borrowed  # only ever under LLAMA_LOAD_LOCK
    try:
        yield
    finally:
        internals.LlamaModel = original


@contextlib.contextmanager
def _templates_not_compiled(lib: ModuleType) -> Iterator[None]:
    """While loading, keep llama-cpp-python from compiling the model's chat templates.

    It compiles every one in a plain Jinja environment, folding constants, under the load
    lock: a hostile template ran there for minutes (issue 26) while every other load
    waited, and a broken one failed the load. Driftless never uses those formatters (it
    renders its own prompts in its sandbox, :mod:`app.core.runtime.template`), so they
    get an empty template instead.
    """
    chat_format = lib.llama_chat_format
    original = chat_format.Jinja2ChatFormatter

    class NotCompiled(original):  # type: ignore[misc, valid-type]
        def __init__(self, template: str, **kwargs: Any) -> None:
            super().__init__("", **kwargs)  # never rendered: see ChatTemplate

    chat_format.Jinja2ChatFormatter = NotCompiled  # only ever under LLAMA_LOAD_LOCK
    try:
        yield
    finally:
        chat_format.Jinja2ChatFormatter = original
