"""Errors of the classification workbench, each a sentence a user can act on."""

from __future__ import annotations

from app.core.errors import DriftlessError


class ClassifyError(DriftlessError):
    """Classification cannot go on (a model, label set or file problem)."""


class LabelSetError(ClassifyError):
    """A label set is invalid, missing, or cannot be saved."""


class DataFileError(ClassifyError):
    """A CSV/TSV input cannot be read at all (malformed rows are reported, not raised)."""


class NoGoldColumn(DataFileError):
    """Gold labels are needed and no column of the file is known to hold them."""


class HeadError(ClassifyError):
    """A taught head cannot be trained, loaded or used with this model."""
