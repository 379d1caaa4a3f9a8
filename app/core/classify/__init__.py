"""The classification workbench: label sets, two methods on the local model, runs, evaluation.

- :mod:`.labels`, :mod:`.library`: label sets, saved versions, built-in templates.
- :mod:`.runtime`: the model opened for classification (shared prefix, batched texts,
  labels scored teacher-forced, hidden states read for features).
- :mod:`.classifier`: prompted scoring (calibrated) and the result types.
- :mod:`.teach`, :mod:`.head`: classification taught by examples.
- :mod:`.table`, :mod:`.batch`, :mod:`.runs`: CSV/TSV files, checkpointed batch runs.
- :mod:`.metrics`, :mod:`.evaluate`: scores against gold labels, the confusion matrix's
  counts and row shares (the window and the command line draw it with Qt).
- :mod:`.workbench`: all of it on one loaded model, for the command line and the window.

Nothing here imports Qt; ``llama_cpp`` is imported only when a model is opened.
"""

from __future__ import annotations

from app.core.classify.batch import BatchProgress, PauseToken, open_file_run, run_file
from app.core.classify.classifier import (
    NEEDS_REVIEW,
    Classifier,
    ClassifierInfo,
    ClassifyProgress,
    Method,
    Prediction,
    PromptClassifier,
)
from app.core.classify.errors import ClassifyError, DataFileError, HeadError, LabelSetError
from app.core.classify.evaluate import (
    EvalReport,
    GoldRows,
    comparison_table,
    evaluate,
    evaluate_file_run,
    evaluate_run,
    gold_rows,
    gold_survey_of_run,
)
from app.core.classify.goldmap import GoldMap, GoldMapNeeded, GoldValue, survey_gold
from app.core.classify.labels import Label, LabelSet
from app.core.classify.library import LabelSetLibrary
from app.core.classify.metrics import GoldMapping, Scores, map_gold, score
from app.core.classify.runs import RowResult, RunEvaluation, RunRecord, RunStore
from app.core.classify.table import (
    Columns,
    Row,
    RowProblem,
    TableFormat,
    choose_columns,
    gold_values,
    iter_rows,
    preview,
    read_all,
    sniff,
)
from app.core.classify.teach import ExampleClassifier, FeatureSpec, TaughtHead, TeachProgress
from app.core.classify.workbench import MethodOptions, TeachingSet, Workbench

__all__ = [
    "NEEDS_REVIEW",
    "BatchProgress",
    "Classifier",
    "ClassifierInfo",
    "ClassifyError",
    "ClassifyProgress",
    "Columns",
    "DataFileError",
    "EvalReport",
    "ExampleClassifier",
    "FeatureSpec",
    "GoldMap",
    "GoldMapNeeded",
    "GoldMapping",
    "GoldRows",
    "GoldValue",
    "HeadError",
    "Label",
    "LabelSet",
    "LabelSetError",
    "LabelSetLibrary",
    "Method",
    "MethodOptions",
    "PauseToken",
    "Prediction",
    "PromptClassifier",
    "Row",
    "RowProblem",
    "RowResult",
    "RunEvaluation",
    "RunRecord",
    "RunStore",
    "Scores",
    "TableFormat",
    "TaughtHead",
    "TeachProgress",
    "TeachingSet",
    "Workbench",
    "choose_columns",
    "comparison_table",
    "evaluate",
    "evaluate_file_run",
    "evaluate_run",
    "gold_rows",
    "gold_survey_of_run",
    "gold_values",
    "iter_rows",
    "map_gold",
    "open_file_run",
    "preview",
    "read_all",
    "run_file",
    "score",
    "sniff",
    "survey_gold",
]
