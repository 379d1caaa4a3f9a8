"""Hyperparameters llama.cpp trusts: hostile values are refused with a sentence, real ones pass."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from app.core.errors import InvalidModelFile
from app.core.models.gguf import read_gguf
from app.core.models.store import ModelStore
from tests.gguf_factory import (
    VT,
    Tensor,
    array,
    f32,
    i32,
    typical_metadata,
    typical_tensors,
    u32,
    u64,
    write_gguf,
)


def llama_metadata(**overrides: object) -> dict[str, object]:
    """A small llama model's hyperparameters, all of the keys llama.cpp reads."""
    base: dict[str, object] = {
        "llama.block_count": u32(2),
        "llama.attention.head_count": u32(4),
        "llama.attention.head_count_kv": u32(2),
        "llama.feed_forward_length": u32(128),
        "llama.attention.layer_norm_rms_epsilon": f32(1e-5),
        "llama.rope.freq_base": f32(10000.0),
        "llama.rope.dimension_count": u32(16),
        "llama.vocab_size": u32(100),
        "tokenizer.ggml.bos_token_id": u32(1),
        "tokenizer.ggml.eos_token_id": u32(2),
    }
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return typical_metadata(base)


def tensors(n_layers: int = 2) -> list[Tensor]:
    layers = [Tensor(f"blk.{i}.attn_norm.weight", (64,), "F32") for i in range(n_layers)]
    return typical_tensors() + layers


def refused(path: Path) -> str:
    with pytest.raises(InvalidModelFile) as caught:
        read_gguf(path)
    message = str(caught.value)
    assert path.name in message
    assert message.endswith("choose another one.")
    return message


def test_a_well_formed_small_llama_passes(tmp_path: Path) -> None:
    info = read_gguf(write_gguf(tmp_path / "ok.gguf", llama_metadata(), tensors()))
    assert info.metadata["llama.block_count"] == 2


def test_the_real_starter_model_passes(starter_file: Path) -> None:
    assert read_gguf(starter_file).architecture == "llama"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("llama.block_count", u32(0), "llama.block_count is 0"),
        ("llama.block_count", u32(100_000), "between 1 and 512"),
        ("llama.context_length", u32(0xFFFFFFFF), "0xFFFFFFFF"),
        ("llama.context_length", u32(0), "llama.context_length is 0"),
        ("llama.embedding_length", u32(0), "llama.embedding_length is 0"),
        ("llama.attention.head_count", u32(0), "head_count is 0"),
        ("llama.attention.head_count_kv", u32(0), "head_count_kv is 0"),
        ("llama.vocab_size", u32(0), "vocab_size is 0"),
        ("llama.block_count", i32(-1), "llama.block_count is -1"),
        ("llama.block_count", "two", "not a whole number"),
        ("llama.block_count", True, "not a whole number"),
        ("llama.attention.head_count", array(VT.UINT32, [0, 0]), "0 for every layer"),
        ("llama.attention.head_count", array(VT.UINT32, [4, 99_999]), "99,999"),
        ("llama.attention.layer_norm_rms_epsilon", f32(math.nan), "small positive number"),
        ("llama.attention.layer_norm_rms_epsilon", f32(-1e-5), "small positive number"),
        ("llama.attention.layer_norm_rms_epsilon", f32(0.0), "small positive number"),
        ("llama.attention.layer_norm_epsilon", f32(math.inf), "small positive number"),
        ("llama.rope.freq_base", f32(math.inf), "not a finite number"),
        ("llama.rope.scaling.factor", f32(math.nan), "not a finite number"),
        ("llama.expert_count", u32(4), "experts"),  # with expert_used_count 8, below
        ("tokenizer.ggml.bos_token_id", u32(100), "outside the 100 tokens"),
        ("tokenizer.ggml.eos_token_id", u32(0xFFFFFFFF), "outside the 100 tokens"),
        ("tokenizer.ggml.padding_token_id", i32(-1), "-1"),
        ("tokenizer.ggml.eot_token_id", "1", "not a token id"),
        ("tokenizer.ggml.tokens", array(VT.STRING, []), "vocabulary"),
    ],
)
def test_a_hostile_value_is_refused_with_a_sentence(
    tmp_path: Path, key: str, value: object, words: str
) -> None:
    metadata = llama_metadata()
    metadata[key] = value
    if key == "llama.expert_count":
        metadata["llama.expert_used_count"] = u32(8)
    path = write_gguf(tmp_path / "hostile.gguf", metadata, tensors())
    message = refused(path)
    assert words in message
    assert "cannot be loaded safely" in message


def test_tensors_for_more_layers_than_block_count_are_refused(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "layers.gguf", llama_metadata(), tensors(n_layers=3))
    assert "layer 2 (blk.2.attn_norm.weight) but says it has 2 layers" in refused(path)


@pytest.mark.parametrize(
    ("shape", "words"),
    [((32, 100), "32 wide"), ((64, 99), "99 rows for a vocabulary of 100")],
)
def test_a_token_embedding_that_disagrees_is_refused(
    tmp_path: Path, shape: tuple[int, int], words: str
) -> None:
    wrong = [Tensor("token_embd.weight", shape, "Q8_0"), Tensor("output_norm.weight", (64,))]
    path = write_gguf(tmp_path / "embd.gguf", llama_metadata(), wrong)
    assert words in refused(path)


def test_per_layer_counts_with_some_zero_layers_pass(tmp_path: Path) -> None:
    # Hybrid models (Jamba, Granite 4) give their recurrent layers 0 attention heads.
    metadata = llama_metadata()
    metadata["llama.attention.head_count"] = array(VT.UINT32, [0, 4])
    metadata["llama.attention.head_count_kv"] = array(VT.UINT32, [0, 2])
    read_gguf(write_gguf(tmp_path / "hybrid.gguf", metadata, tensors()))


def test_gemma_style_hyperparameters_pass(tmp_path: Path) -> None:
    # Gemma 2/3: head size (key_length) is not embedding / heads, soft-capping floats,
    # a sliding window, a tiny epsilon, a big vocabulary of which few ids are special.
    metadata = typical_metadata(
        {
            "general.architecture": "gemma2",
            "llama.context_length": None,
            "llama.embedding_length": None,
            "gemma2.context_length": u32(8192),
            "gemma2.embedding_length": u32(64),
            "gemma2.block_count": u32(2),
            "gemma2.feed_forward_length": u32(256),
            "gemma2.attention.head_count": u32(8),
            "gemma2.attention.head_count_kv": u32(4),
            "gemma2.attention.key_length": u32(256),
            "gemma2.attention.value_length": u32(256),
            "gemma2.attention.layer_norm_rms_epsilon": f32(1e-6),
            "gemma2.attention.sliding_window": u32(4096),
            "gemma2.attn_logit_softcapping": f32(50.0),
            "gemma2.final_logit_softcapping": f32(30.0),
            "gemma2.rope.freq_base": f32(10000.0),
            "tokenizer.ggml.model": "llama",
            "tokenizer.ggml.bos_token_id": u32(2),
            "tokenizer.ggml.eos_token_id": u32(1),
            "tokenizer.ggml.unknown_token_id": u32(3),
            "tokenizer.ggml.padding_token_id": u32(0),
            "tokenizer.ggml.eot_token_id": u32(99),
            "general.parameter_count": u64(2_600_000_000),
        }
    )
    info = read_gguf(write_gguf(tmp_path / "gemma.gguf", metadata, tensors()))
    assert info.architecture == "gemma2"


def test_import_refuses_a_hostile_file_before_copying(tmp_path: Path, store: ModelStore) -> None:
    path = write_gguf(
        tmp_path / "nan.gguf",
        llama_metadata(llama__attention__layer_norm_rms_epsilon=f32(math.nan)),
        tensors(),
    )
    with pytest.raises(InvalidModelFile, match="layer_norm_rms_epsilon"):
        store.import_file(path)
    assert store.list_models() == []
