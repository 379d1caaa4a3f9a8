"""Driftless: a private desktop assistant for small language models."""

from __future__ import annotations

APP_NAME = "Driftless"
APP_ID = "io.driftless.Driftless"
__version__ = "0.1.0"
