"""A sampled token's log-probability and its likeliest alternatives, read from the
logits llama.cpp just computed (for the API's ``logprobs`` and behaviour checks)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from app.core.runtime.results import TokenLogprob


def token_logprob(lib: ModuleType, llama: Any, token: int, top: int) -> TokenLogprob:
    """``token``'s log-probability from the logits it was just sampled from."""
    import numpy as np

    n_vocab = int(llama.n_vocab())
    pointer = lib.llama_get_logits_ith(llama.ctx, -1)
    logits = np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64)
    peak = float(logits.max())
    log_total = peak + float(np.log(np.exp(logits - peak).sum()))

    def described(tid: int) -> tuple[str, float, bytes]:
        raw: bytes = llama.detokenize([tid])
        return raw.decode("utf-8", "replace"), float(logits[tid]) - log_total, raw

    best: list[int] = []
    if top > 0:
        found = np.argpartition(-logits, top - 1)[:top]
        best = sorted((int(t) for t in found), key=lambda t: -float(logits[t]))
    text, logprob, raw = described(token)
    return TokenLogprob(text, logprob, raw, tuple(described(t) for t in best))
