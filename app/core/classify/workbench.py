"""The workbench: one model opened for classification, label sets, heads and runs together.

This is the object the command line and the Classify page hold. Like the engine it
is owned by one thread (the page's worker); only ``CancelToken.cancel()`` and
``PauseToken`` calls come from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.classify.classifier import (
    DEFAULT_THRESHOLD,
    Classifier,
    Method,
    PromptClassifier,
)
from app.core.classify.coverage import Coverage
from app.core.classify.encoder import PROMPT_REFUSAL, EncoderReader, is_encoder
from app.core.classify.errors import ClassifyError, HeadError
from app.core.classify.goldmap import GoldMap, require_map
from app.core.classify.labels import LabelSet
from app.core.classify.library import LabelSetLibrary
from app.core.classify.metrics import map_gold
from app.core.classify.prompt import PromptStyle
from app.core.classify.runner import ModelRunner, RunnerInfo
from app.core.classify.runs import RunStore
from app.core.classify.table import Columns, TableRead, file_sha256, read_all
from app.core.classify.teach import (
    ExampleClassifier,
    FeatureSpec,
    Reader,
    TaughtHead,
    TeachCallback,
    spec_for,
    teach,
)
from app.core.fsutil import ProgressCallback
from app.core.models.store import ModelStore
from app.core.models.unpacked import UnpackedCache
from app.core.paths import Paths
from app.core.settings import load_settings


@dataclass(frozen=True)
class MethodOptions:
    """How to classify: the method and the settings that change its results."""

    method: Method = "prompt"
    style: PromptStyle = "plain"
    few_shot: bool = False
    calibrated: bool = True
    threshold: float = DEFAULT_THRESHOLD
    spec: FeatureSpec | None = None
    """Features for the examples method; None: the default for the model's depth."""


@dataclass(frozen=True)
class TeachingSet:
    """Labelled examples read from a file, ready to teach from."""

    examples: tuple[tuple[str, int], ...]
    source_sha256: str
    skipped_rows: int
    unknown_labels: tuple[str, ...]
    gold_map: str = ""
    """The confirmed map of the file's label values to labels; empty: matched by name."""

    def coverage(self, label_set: LabelSet) -> Coverage:
        """Examples per label of ``label_set``: count them before teaching."""
        return Coverage.of(label_set.label_names, [y for _, y in self.examples])


class Workbench:
    """Classification on one loaded model. Use from one thread; close when done."""

    def __init__(self, paths: Paths, store: ModelStore) -> None:
        self.paths = paths
        self.store = store
        self.library = LabelSetLibrary.for_paths(paths)
        self.runs = RunStore.for_paths(paths)
        self._runner: ModelRunner | None = None
        self._encoder: EncoderReader | None = None

    # -- the model --

    def open_model(
        self,
        ref: str | None = None,
        *,
        n_threads: int | None = None,
        unpack: bool | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        gpu_layers: str | None = None,
    ) -> RunnerInfo:
        """Load a model (the active one by default), replacing any loaded one.

        ``unpack`` None follows the settings; ``n_threads`` None measures the fastest count;
        ``gpu_layers`` None: the settings' "GPU layers" for the model. A sentence encoder
        is opened as one (:class:`EncoderReader`: pooled vectors, on the CPU, one thread
        unless told); it can only be taught from examples.
        """
        self.close()
        model = self.store.resolve(ref)
        if is_encoder(model):
            self._encoder = EncoderReader.open(
                self.store, model, n_threads=n_threads, on_progress=on_progress, cancel=cancel
            )
            return self._encoder.info
        if unpack is None:
            unpack = load_settings(self.paths).unpack_for_classification
        cache = UnpackedCache(self.paths.unpacked_dir)
        cache.prune({model.sha256 for model in self.store.list_models()})
        self._runner = ModelRunner.open(
            self.store,
            model,
            n_threads=n_threads,
            unpack=unpack,
            on_progress=on_progress,
            cancel=cancel,
            gpu_layers=gpu_layers,
        )
        return self._runner.info

    @property
    def reader(self) -> Reader:
        """The loaded model as teaching reads it: a chat model's runner or an encoder."""
        if self._encoder is not None:
            return self._encoder
        return self.runner

    @property
    def info(self) -> RunnerInfo:
        return self.reader.info

    @property
    def runner(self) -> ModelRunner:
        """The loaded chat model; an encoder is refused (it scores no prompt)."""
        if self._encoder is not None:
            raise ClassifyError(PROMPT_REFUSAL.format(model=self._encoder.info.model_id))
        if self._runner is None:
            raise ClassifyError("No model is loaded for classification. Load one first.")
        return self._runner

    def close(self) -> None:
        runner, self._runner = self._runner, None
        encoder, self._encoder = self._encoder, None
        if runner is not None:
            runner.close()
        if encoder is not None:
            encoder.close()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- classifiers --

    def classifier(
        self,
        label_set: LabelSet,
        options: MethodOptions,
        *,
        head: TaughtHead | None = None,
    ) -> Classifier:
        """A classifier for ``label_set``; the examples method needs a head (see ``teach``)."""
        if options.method == "prompt":
            return PromptClassifier(
                self.runner,
                label_set,
                style=options.style,
                few_shot=options.few_shot,
                calibrated=options.calibrated,
                threshold=options.threshold,
            )
        head = head or self.saved_head(label_set, options.spec)
        if head is None:
            raise HeadError(
                f"No head has been taught for '{label_set.version_id}' on "
                f"{self.info.model_id}. Teach one from a labelled file first."
            )
        return ExampleClassifier(self.reader, label_set, head, threshold=options.threshold)

    # -- teaching --

    def teaching_set(
        self,
        path: Path,
        label_set: LabelSet,
        *,
        text_column: str | None = None,
        label_column: str | None = None,
        columns: Columns | None = None,
        encoding: str | None = None,
        gold_map: GoldMap | None = None,
        cancel: CancelToken | None = None,
    ) -> TeachingSet:
        """Read labelled examples; rows whose label is not in the set are left out.

        Label values that are not label names need ``gold_map`` (or one chosen with the
        columns): :class:`~.goldmap.GoldMapNeeded` says so, never a match by position.
        """
        table: TableRead = read_all(
            path,
            text_column,
            label_column,
            need_gold=True,
            columns=columns,
            encoding=encoding,
            cancel=cancel,
        )
        gold_map = gold_map or table.columns.gold_map
        values = [r.gold or "" for r in table.rows]
        require_map(values, label_set, gold_map, Path(path).name)
        mapping = map_gold(values, label_set, gold_map)
        examples = tuple(
            (row.text, index)
            for row, index in zip(table.rows, mapping.indices, strict=True)
            if index is not None
        )
        if not examples:
            raise HeadError(
                f"No label in {Path(path).name} matches the label set "
                f"({', '.join(label_set.label_names)}); found e.g. "
                f"{', '.join(mapping.unknown[:5])}."
            )
        return TeachingSet(
            examples=examples,
            source_sha256=file_sha256(path, cancel),
            skipped_rows=len(table.problems),
            unknown_labels=mapping.unknown,
            gold_map=mapping.gold_map,
        )

    def teach(
        self,
        label_set: LabelSet,
        examples: Sequence[tuple[str, int]],
        *,
        spec: FeatureSpec | None = None,
        source_sha256: str = "",
        gold_map: str = "",
        save: bool = True,
        on_progress: TeachCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> TaughtHead:
        """Teach a head from examples and (by default) save it beside the label set.

        Without ``spec`` the features are chosen by validation (:func:`candidate_specs`);
        the head is saved where the default features' head is looked for."""
        head = teach(
            self.reader,
            label_set,
            examples,
            spec=spec,
            on_progress=on_progress,
            cancel=cancel,
        )
        head = replace(head, source_sha256=source_sha256, gold_map=gold_map)
        if save:
            head.save(self.head_path(label_set, spec))
        return head

    def spec_for(self, spec: FeatureSpec | None) -> FeatureSpec:
        return spec_for(self.reader, spec)

    def head_path(self, label_set: LabelSet, spec: FeatureSpec | None = None) -> Path:
        return self.library.head_path(label_set, self.info.lock_id, self.spec_for(spec).id)

    def saved_head(self, label_set: LabelSet, spec: FeatureSpec | None = None) -> TaughtHead | None:
        """The head saved for this label set version, model and features, if any."""
        path = self.head_path(label_set, spec)
        if not path.is_file():
            return None
        head = TaughtHead.load(path)
        info = self.info
        head.check_usable(label_set, info.lock_id, info.reader, info.sha256)
        return head
