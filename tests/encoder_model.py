"""A tiny sentence encoder as GGUF, made in the test: a random-weight BERT llama.cpp loads.

Two layers of 32 numbers, a WordPiece vocabulary of a few dozen words, mean pooling and
non-causal attention, written by tests/gguf_factory.py (no torch, no ``gguf`` package).
Its vectors mean nothing, but they are the encoder's real pooled output: what teaching
on an encoder reads. The weights come from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.gguf_factory import VT, Tensor, array, f32, u32, write_gguf

N_EMBD = 32
N_FF = 64
N_LAYER = 2
N_HEAD = 2
N_CTX = 64
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = (
    "a the and it of to i was is film movie story acting great wonderful lovely loved "
    "brilliant funny warm delight beautiful touching boring long badly dull mess hated "
    "awful terrible tedious waste bad stupid card lost money transfer my where how"
)
WORDS = _WORDS.split()


def encoder_vocab() -> list[str]:
    # WordPiece marks a word's start with a phantom space, as convert_hf_to_gguf does.
    return SPECIAL + ["\u2581" + w for w in WORDS] + ["\u2581" + c for c in ",.!?"]


def tiny_encoder(path: Path, *, seed: int = 0) -> Path:
    """Write the encoder to ``path``; another ``seed`` gives other weights (another sha256)."""
    rng = np.random.default_rng(seed)
    vocab = encoder_vocab()
    n_vocab = len(vocab)
    metadata: dict[str, object] = {
        "general.architecture": "bert",
        "general.name": f"Tiny Encoder {seed}",
        "general.license": "apache-2.0",
        "general.file_type": u32(0),  # all F32
        "bert.context_length": u32(N_CTX),
        "bert.embedding_length": u32(N_EMBD),
        "bert.feed_forward_length": u32(N_FF),
        "bert.block_count": u32(N_LAYER),
        "bert.attention.head_count": u32(N_HEAD),
        "bert.attention.layer_norm_epsilon": f32(1e-12),
        "bert.attention.causal": False,
        "bert.pooling_type": u32(1),  # mean
        "tokenizer.ggml.token_type_count": u32(2),
        "tokenizer.ggml.model": "bert",
        "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": vocab,
        "tokenizer.ggml.token_type": array(VT.INT32, [3 if t in SPECIAL else 1 for t in vocab]),
        "tokenizer.ggml.padding_token_id": u32(0),
        "tokenizer.ggml.unknown_token_id": u32(1),
        "tokenizer.ggml.bos_token_id": u32(2),
        "tokenizer.ggml.seperator_token_id": u32(3),
        "tokenizer.ggml.eos_token_id": u32(3),
        "tokenizer.ggml.mask_token_id": u32(4),
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_eos_token": True,
    }

    def weights(*shape: int, scale: float = 0.2) -> bytes:
        return (rng.standard_normal(shape[::-1]) * scale).astype(np.float32).tobytes()

    def ones(n: int) -> bytes:
        return np.ones(n, dtype=np.float32).tobytes()

    def zeros(n: int) -> bytes:
        return np.zeros(n, dtype=np.float32).tobytes()

    tensors = [
        Tensor("token_embd.weight", (N_EMBD, n_vocab), data=weights(N_EMBD, n_vocab, scale=1.0)),
        Tensor("token_types.weight", (N_EMBD, 2), data=weights(N_EMBD, 2, scale=0.1)),
        Tensor("position_embd.weight", (N_EMBD, N_CTX), data=weights(N_EMBD, N_CTX, scale=0.1)),
        Tensor("token_embd_norm.weight", (N_EMBD,), data=ones(N_EMBD)),
        Tensor("token_embd_norm.bias", (N_EMBD,), data=zeros(N_EMBD)),
    ]
    for i in range(N_LAYER):
        block = f"blk.{i}."
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensors.append(
                Tensor(block + name + ".weight", (N_EMBD, N_EMBD), data=weights(N_EMBD, N_EMBD))
            )
            tensors.append(Tensor(block + name + ".bias", (N_EMBD,), data=zeros(N_EMBD)))
        tensors += [
            Tensor(block + "attn_output_norm.weight", (N_EMBD,), data=ones(N_EMBD)),
            Tensor(block + "attn_output_norm.bias", (N_EMBD,), data=zeros(N_EMBD)),
            Tensor(block + "ffn_up.weight", (N_EMBD, N_FF), data=weights(N_EMBD, N_FF)),
            Tensor(block + "ffn_up.bias", (N_FF,), data=zeros(N_FF)),
            Tensor(block + "ffn_down.weight", (N_FF, N_EMBD), data=weights(N_FF, N_EMBD)),
            Tensor(block + "ffn_down.bias", (N_EMBD,), data=zeros(N_EMBD)),
            Tensor(block + "layer_output_norm.weight", (N_EMBD,), data=ones(N_EMBD)),
            Tensor(block + "layer_output_norm.bias", (N_EMBD,), data=zeros(N_EMBD)),
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_gguf(path, metadata, tensors)


__all__ = ["N_EMBD", "N_LAYER", "tiny_encoder"]
