"""Teaching and classifying by examples on a sentence encoder (a tiny random BERT made here).

The encoder is a real GGUF that llama.cpp loads (tests/encoder_model.py): a few kB, two
layers, so loading it is quick, but it is a real load and the tests are marked slow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.classify.encoder import EncoderReader, is_encoder
from app.core.classify.errors import ClassifyError, HeadError
from app.core.classify.teach import POOLED, ExampleClassifier, TaughtHead
from app.core.classify.workbench import MethodOptions, Workbench
from app.core.cluster.job import ClassifierJob
from app.core.docs.embedding import ModelEmbedder
from app.core.models.embedder import is_encoder_architecture
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import Paths
from tests.encoder_model import N_EMBD, tiny_encoder
from tests.model_files import tiny_model
from tests.unit.classify.test_model import SENTIMENT, TEACH


@pytest.fixture
def encoder(store: ModelStore, tmp_path: Path) -> InstalledModel:
    return store.import_file(tiny_encoder(tmp_path / "models" / "tiny-encoder.gguf"))


@pytest.fixture
def bench(paths: Paths, store: ModelStore, encoder: InstalledModel) -> Iterator[Workbench]:
    with Workbench(paths, store) as opened:
        opened.open_model(encoder.id, n_threads=1)
        yield opened


@pytest.mark.slow
def test_an_encoder_is_opened_as_one_and_reads_the_documents_vectors(
    bench: Workbench, store: ModelStore, encoder: InstalledModel
) -> None:
    info = bench.info
    assert info.reader == "encoder" and info.pooling == "mean"
    assert info.n_embd == N_EMBD and info.sha256 == encoder.sha256
    assert isinstance(bench.reader, EncoderReader)
    texts = ["a great film", "boring and long", "where is my card"]
    features, cut = bench.reader.read(texts)
    assert features.shape == (3, N_EMBD) and cut == [False, False, False]
    # The same vectors, to the bit, as the documents feature's embedder gives.
    embedder = ModelEmbedder(store, encoder.id, n_threads=1)
    try:
        assert np.array_equal(features, embedder.embed(texts))
    finally:
        embedder.close()
    assert not np.allclose(features[0], features[1])
    # A text longer than the encoder's context is cut, and the result says so.
    _, cut = bench.reader.read(["great " * 200])
    assert cut == [True]


@pytest.mark.slow
def test_a_head_is_taught_on_pooled_vectors_saved_and_found_again(
    bench: Workbench, encoder: InstalledModel
) -> None:
    head = bench.teach(SENTIMENT, TEACH)
    assert head.spec == POOLED and head.spec.id == "pooled"
    assert head.reader == "encoder" and head.model_sha256 == encoder.sha256
    assert head.lock_id == encoder.lock_id and head.fit.n_train == len(TEACH)
    assert head.fit.weights.shape[0] == N_EMBD  # one vector a text, no prompt scores
    path = bench.head_path(SENTIMENT)
    assert path.is_file() and "pooled" in path.name
    loaded = TaughtHead.load(path)
    assert loaded.spec == POOLED and loaded.model_sha256 == encoder.sha256
    assert loaded.reader == "encoder"

    classifier = bench.classifier(SENTIMENT, MethodOptions(method="examples"))
    assert isinstance(classifier, ExampleClassifier)
    assert "head=pooled@" in classifier.info.detail
    texts = [t for t, _ in TEACH]
    predictions = classifier.predict(texts)
    expected = head.fit.predict_proba(bench.reader.read(texts)[0])
    got = np.array([p.probabilities for p in predictions])
    assert np.allclose(got, expected)
    taught = classifier.taught()
    assert taught is not None and taught["reader"] == "encoder"


@pytest.mark.slow
def test_prompt_scoring_refuses_an_encoder_with_a_sentence(bench: Workbench) -> None:
    with pytest.raises(ClassifyError, match=r"is a sentence encoder.*Taught by examples"):
        bench.classifier(SENTIMENT, MethodOptions(method="prompt"))
    with pytest.raises(HeadError, match="No head has been taught"):
        bench.classifier(SENTIMENT, MethodOptions(method="examples"))


@pytest.mark.slow
def test_a_head_taught_on_one_encoder_is_refused_on_another(
    bench: Workbench, store: ModelStore, tmp_path: Path
) -> None:
    head = bench.teach(SENTIMENT, TEACH, save=False)
    other = store.import_file(tiny_encoder(tmp_path / "other" / "other-encoder.gguf", seed=1))
    with (
        EncoderReader.open(store, other.id, n_threads=1) as reader,
        pytest.raises(HeadError, match="cannot be used with another model"),
    ):
        ExampleClassifier(reader, SENTIMENT, head)
    # Read through a chat model instead, it is refused before the lock id is compared.
    with pytest.raises(HeadError, match=r"a sentence encoder's vectors.*chat model"):
        head.check_usable(SENTIMENT, head.lock_id, "decoder")
    with pytest.raises(HeadError, match="another model"):
        head.check_usable(SENTIMENT, head.lock_id, "encoder", "f" * 64)


@pytest.mark.slow
def test_a_head_on_an_encoder_does_not_go_to_a_cluster(
    bench: Workbench, encoder: InstalledModel, paths: Paths
) -> None:
    bench.teach(SENTIMENT, TEACH)
    classifier = bench.classifier(SENTIMENT, MethodOptions(method="examples"))
    with pytest.raises(ClassifyError, match="on this machine"):
        ClassifierJob.of(classifier, encoder, unpacked_dir=paths.unpacked_dir)


@pytest.mark.slow
def test_cli_teaches_and_evaluates_on_an_encoder(
    encoder: InstalledModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = tmp_path / "train.csv"
    train.write_text(
        "text,label\n" + "".join(f'"{t}",{SENTIMENT.label_names[y]}\n' for t, y in TEACH)
    )
    gold = tmp_path / "gold.csv"
    gold.write_text("text,label\nwarm and lovely,positive\nboring and awful,negative\n")
    common = ["--model", encoder.id, "--labels", "positive,negative", "--input", str(gold)]
    command = ["eval", *common, "--method", "examples", "--train", str(train), "--json"]
    assert main(command) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["reader"] == "encoder" and report["features"] == "pooled"
    assert report["model"] == encoder.id and report["n"] == 2
    assert report["method"] == "examples"
    assert "is a sentence encoder: texts are read as its pooled sentence vectors" in captured.err
    assert "Taught a head on 12 examples" in captured.err

    out = tmp_path / "out.csv"
    classify = ["classify", *common, "--method", "examples", "--train", str(train)]
    assert main([*classify, "--output", str(out)]) == 0
    assert "Using the head taught from train.csv" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 3

    assert main(["classify", *common]) == 1  # prompted scoring: refused, with a sentence
    assert "is a sentence encoder" in capsys.readouterr().err


def test_an_encoder_is_told_from_its_header_and_an_unreadable_file_is_left_to_the_loader(
    store: ModelStore, tmp_path: Path
) -> None:
    encoder = store.import_file(tiny_encoder(tmp_path / "enc" / "tiny-encoder.gguf"))
    chat = store.import_file(tiny_model(tmp_path / "chat" / "Tiny.gguf"))
    assert is_encoder(encoder) and not is_encoder(chat)
    assert is_encoder_architecture(encoder.architecture)
    assert not is_encoder_architecture(chat.architecture)
    assert POOLED.pooled and POOLED.layers == () and POOLED.id == "pooled"
    encoder.path.unlink()
    assert not is_encoder(encoder)  # the loader then says the file is missing
