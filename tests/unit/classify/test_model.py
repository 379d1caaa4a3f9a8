"""Classification on the real starter model: batching, teacher forcing, both methods, CLI.

The model loads in well under a second; one runner is shared by the module's tests
(all on pytest's main thread, which owns it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.cli import main
from app.core.classify import runner as runtime
from app.core.classify.classifier import PromptClassifier, PromptSession
from app.core.classify.labels import Label, LabelSet
from app.core.classify.runner import ModelRunner
from app.core.classify.scoring import Query
from app.core.classify.teach import ExampleClassifier, FeatureSpec
from app.core.classify.workbench import Workbench
from app.core.models import unpacked
from app.core.models.store import ModelStore
from app.core.paths import Paths

SENTIMENT = LabelSet.from_names(
    "positive,negative", instruction="Is the movie review positive or negative?"
)
TEACH = [
    ("a wonderful, moving film", 0),
    ("great acting and a lovely story", 0),
    ("I loved every minute of it", 0),
    ("brilliant, funny and warm", 0),
    ("a delight from start to finish", 0),
    ("beautiful and touching", 0),
    ("boring, far too long and badly acted", 1),
    ("a dull mess with no story", 1),
    ("I hated it and walked out", 1),
    ("awful dialogue and terrible acting", 1),
    ("a tedious waste of time", 1),
    ("painfully bad and stupid", 1),
]
THREADS = 1
"""One thread: on a machine that other test runs share, llama.cpp's threads spin waiting
for each other's time slices, and one thread is several times faster."""
SMALL_SPEC = FeatureSpec(mean_layers=(6, 12), last_layers=(12,))


@pytest.fixture(scope="module")
def model_store(module_store: ModelStore) -> ModelStore:
    return module_store


@pytest.fixture(scope="module")
def model_paths(model_store: ModelStore) -> Paths:
    return model_store.paths


@pytest.fixture(scope="module")
def runner(model_store: ModelStore) -> Iterator[ModelRunner]:
    with ModelRunner.open(model_store, n_threads=THREADS) as opened:
        yield opened


def _query(runner: ModelRunner, session: PromptSession, text: str) -> Query:
    session.prepare()
    query, _ = session.query(text)
    return query


@pytest.mark.slow
def test_a_text_scores_the_same_whatever_shares_its_batch(runner: ModelRunner) -> None:
    session = PromptSession(runner, SENTIMENT)
    session.prepare()
    target = _query(runner, session, "the acting is superb")
    # Two neighbours of one length, so the batch has the same shape both times.
    candidates = ["a total disaster", "what a bore", "so very good", "utterly tedious"]
    by_length: dict[int, list[Query]] = {}
    for text in candidates:
        q = _query(runner, session, text)
        by_length.setdefault(len(q.tokens), []).append(q)
    pair = next(qs for qs in by_length.values() if len(qs) >= 2)
    with_first = runner.run([target, pair[0]])[0].label_logprobs
    with_second = runner.run([target, pair[1]])[0].label_logprobs
    assert with_first is not None and with_second is not None
    assert np.allclose(with_first, with_second, atol=1e-4)
    alone = runner.run([target])[0].label_logprobs
    assert alone is not None and np.allclose(alone, with_first, atol=0.3)


@pytest.mark.slow
def test_a_text_scores_the_same_on_any_thread_count(runner: ModelRunner) -> None:
    # The tuner may change the thread count between the batches of one run; results
    # must not depend on it.
    session = PromptSession(runner, SENTIMENT)
    queries = [_query(runner, session, t) for t in ("a fine film", "dull and far too long")]
    scores = {}
    for threads in (2, 1):
        runner.set_threads(threads)
        scores[threads] = np.array([o.label_logprobs for o in runner.run(queries)])
        assert runner.threads == threads
    assert np.array_equal(scores[1], scores[2])


@pytest.mark.slow
def test_multi_token_labels_are_scored_teacher_forced(runner: ModelRunner) -> None:
    labels = LabelSet(
        "routing",
        "Route the ticket.",
        (Label("billing"), Label("technical_problem"), Label("account_access")),
    )
    session = PromptSession(runner, labels)
    path = session.paths[1]
    assert len(path) >= 2  # "technical problem" takes several tokens
    text = "The app crashes when I open settings."
    session.prepare()
    query, _ = session.query(text)
    total = runner.run([query])[0].label_logprobs
    assert total is not None
    # The same sum, one token at a time: log p(t1 | text) + log p(t2 | text, t1) + ...
    expected = 0.0
    for i, token in enumerate(path):
        runner.prepare(session.prefix, [[token]])
        step = Query(query.tokens + tuple(path[:i]), query.pool)
        score = runner.run([step])[0].label_logprobs
        assert score is not None
        expected += float(score[0])
    assert float(total[1]) == pytest.approx(expected, abs=0.05)


@pytest.mark.slow
def test_prompted_scoring_reads_obvious_sentiment(runner: ModelRunner) -> None:
    classifier = PromptClassifier(runner, SENTIMENT)
    assert classifier.prior is not None and classifier.prior.sum() == pytest.approx(1.0)
    texts = [
        "An absolute masterpiece, I loved it.",
        "Terrible. Boring and far too long.",
        "Wonderful acting and a beautiful story.",
        "The worst film I have seen this year.",
    ]
    predictions = classifier.predict(texts)
    assert [p.label for p in predictions] == ["positive", "negative", "positive", "negative"]
    for p in predictions:
        assert sum(p.probabilities) == pytest.approx(1.0)
        assert p.confidence == max(p.probabilities)
    assert classifier.info.lock_id == runner.info.lock_id
    assert classifier.info.label_set == SENTIMENT.version_id


@pytest.mark.slow
def test_long_texts_are_cut_and_say_so(
    runner: ModelRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "MAX_TEXT_TOKENS", 8)
    classifier = PromptClassifier(runner, SENTIMENT, calibrated=False)
    short, long = classifier.predict(["Great.", "Great film. " * 40])
    assert not short.truncated and long.truncated


@pytest.mark.slow
def test_teaching_from_examples_and_the_head_is_saved_for_this_model(
    model_paths: Paths, model_store: ModelStore
) -> None:
    with Workbench(model_paths, model_store) as bench:
        bench.open_model(n_threads=THREADS)
        head = bench.teach(SENTIMENT, TEACH, spec=SMALL_SPEC)
        assert head.fit.n_train == len(TEACH) and head.lock_id == bench.runner.info.lock_id
        assert head.fit.weights.shape == (3 * bench.runner.info.n_embd, 2)
        saved = bench.saved_head(SENTIMENT, SMALL_SPEC)
        assert saved is not None and saved.created_at == head.created_at
        classifier = ExampleClassifier(bench.runner, SENTIMENT, saved)
        predictions = classifier.predict(["a lovely, warm and funny film", "dull and awful"])
        assert [p.label for p in predictions] == ["positive", "negative"]
        assert classifier.info.method == "examples"


def _open_sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.mark.slow
def test_classification_opens_no_socket(
    model_paths: Paths, model_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("classification tried to open a network connection")

    linux = os.path.isdir("/proc/self/fd")
    before = _open_sockets() if linux else set()
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with Workbench(model_paths, model_store) as bench:
        bench.open_model(n_threads=THREADS)
        assert PromptClassifier(bench.runner, SENTIMENT).predict(["fine film"])
        head = bench.teach(SENTIMENT, TEACH[:4] + TEACH[6:10], spec=SMALL_SPEC, save=False)
        assert ExampleClassifier(bench.runner, SENTIMENT, head).predict(["awful"])
        if linux:
            assert _open_sockets() <= before


@pytest.mark.slow
def test_a_runner_belongs_to_the_thread_that_opened_it(runner: ModelRunner) -> None:
    errors: list[BaseException] = []

    def other() -> None:
        try:
            runner.prepare([1, 2], [[3]])
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert isinstance(errors[0], RuntimeError)


@pytest.mark.slow
def test_cli_classify_resumes_and_eval_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "reviews.csv"
    source.write_text(
        "text,label\n"
        "I loved this film so much,1\n"
        "Terrible and boring,0\n"
        ",1\n"
        "What a wonderful story,1\n"
        '"awful, awful acting",0\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    args = ["classify", "--threads", "1", "--labels", "negative,positive", "--input", str(source)]
    assert main([*args, "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Skipped line 4: has an empty text" in err
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("row,line,text,gold,label,best_label,confidence,p_negative")
    assert len(lines) == 5
    assert main(args) == 0  # the same run again: everything was done
    captured = capsys.readouterr()
    assert "Resuming: 5 of 5 rows were done before." in captured.err
    assert captured.out.splitlines()[1:] == lines[1:]  # results on stdout, identical

    evaluate = ["eval", "--threads", "1", "--labels", "negative,positive", "--input", str(source)]
    evaluate += ["--gold-map", "0=negative,1=positive"]
    assert main([*evaluate, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["method"] == "prompt"
    assert report["model"] == "smollm2-135m-instruct-q4_1"
    assert 0.0 <= report["accuracy"] <= 1.0 and report["texts_per_second"] > 0
    assert {"macro_f1", "per_class", "confusion", "lock_id"} <= set(report)
    assert report["weights"] == "F16 from Q4_1"  # the 16-bit copy, by default
    assert main([*evaluate, "--json", "--packed"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == "Q4_1"


@pytest.mark.slow
def test_cli_says_why_it_scores_the_packed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unpacked.shutil, "disk_usage", lambda _p: SimpleNamespace(free=10**6))
    source = tmp_path / "two.csv"
    source.write_text("text,label\ngreat,positive\nawful,negative\n", encoding="utf-8")
    args = ["eval", "--threads", "1", "--labels", "negative,positive", "--input", str(source)]
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["weights"] == "Q4_1"
    assert "Note: scoring on the model file as it is (slower)" in captured.err
    assert "free disk space" in captured.err


@pytest.mark.slow
def test_cli_eval_compares_two_methods_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "reviews.json"
    labels.write_text(json.dumps(SENTIMENT.renamed("reviews").to_json()), encoding="utf-8")
    train = tmp_path / "train.tsv"
    train.write_text(
        "sentence\tlabel\n"
        + "".join(f"{t}\t{'POSITIVE' if y == 0 else 'negative'}\n" for t, y in TEACH),
        encoding="utf-8",
    )
    gold = tmp_path / "gold.csv"
    gold.write_text("text,sentiment\nwarm and lovely,positive\nboring and awful,negative\n")
    picture = tmp_path / "cm.png"
    command = [
        "eval", "--threads", "1", "--label-set", str(labels), "--input", str(gold),
        "--train", str(train), "--method", "prompt", "--method", "examples",
        "--json", "--confusion-png", str(picture),
    ]  # fmt: skip
    # In a process of its own, as people run it: --confusion-png makes the process's Qt
    # application (a QGuiApplication), and pytest-qt's widgets need theirs to be a
    # QApplication when GUI tests run after this one in the same process.
    run = subprocess.run(
        [sys.executable, "-m", "app", *command], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["n"] == 2
    assert [r["method"] for r in report["comparison"]] == ["prompt", "examples"]
    assert report["comparison"][1]["label_set"].startswith("reviews#")
    assert "Taught a head on 12 examples" in run.stderr
    assert (tmp_path / "cm-1.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "cm-2.png").is_file()
    assert main([*command[:-3]]) == 0  # the head is reused, not taught again
    assert "Using the head taught from train.tsv" in capsys.readouterr().err


def test_the_core_imports_neither_qt_nor_llama_cpp() -> None:
    code = (
        "import sys, app.core.classify, app.cli.classify\n"
        "print(sorted(m for m in ('PySide6', 'llama_cpp') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert result.stdout.strip() == "[]"
