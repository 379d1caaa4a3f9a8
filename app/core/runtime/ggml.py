"""The few libggml calls an eval callback makes to read a tensor while a graph runs.

llama.cpp calls a context's ``cb_eval`` for every node of the graph, first asking whether
the caller wants the node's data and, if so, again once it is computed; returning False
then skips the rest of the graph. Classification reads hidden states this way
(:mod:`app.core.classify.capture`), and so does the documents' embedder
(:mod:`app.core.runtime.embedder`), which stops after the layer it pools.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from app.core.runtime.llama import import_ggml


@dataclass(frozen=True)
class GgmlTensors:
    get_name: Any
    nelements: Any
    nbytes: Any
    tensor_get: Any


_cache: list[GgmlTensors] = []


def tensor_functions(llama: ModuleType) -> GgmlTensors:
    """The four ggml functions an eval callback needs, with their C signatures.

    They come from libggml, which :func:`app.core.runtime.llama.import_ggml` reaches
    through the llama-cpp-python that the runtime has already loaded (past its CPU check,
    its logging silenced).
    """
    if not _cache:
        lib = import_ggml(llama)
        lib.ggml_get_name.argtypes = [ctypes.c_void_p]
        lib.ggml_get_name.restype = ctypes.c_char_p
        lib.ggml_nelements.argtypes = [ctypes.c_void_p]
        lib.ggml_nelements.restype = ctypes.c_int64
        lib.ggml_nbytes.argtypes = [ctypes.c_void_p]
        lib.ggml_nbytes.restype = ctypes.c_size_t
        lib.ggml_backend_tensor_get.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_size_t,
        ]
        lib.ggml_backend_tensor_get.restype = None
        _cache.append(
            GgmlTensors(
                lib.ggml_get_name, lib.ggml_nelements, lib.ggml_nbytes, lib.ggml_backend_tensor_get
            )
        )
    return _cache[0]
