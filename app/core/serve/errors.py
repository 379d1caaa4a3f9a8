"""Errors the API answers with, in OpenAI's shape: ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

from typing import Any

from app.core.docs.records import CollectionNotFound
from app.core.errors import (
    AmbiguousModelId,
    ChecksumMismatch,
    ContextOverflow,
    DriftlessError,
    InvalidModelFile,
    ModelLoadError,
    ModelNotFound,
)

MAX_MESSAGE_CHARS = 1000


class ApiError(DriftlessError):
    """A request the server refuses: an HTTP status and a sentence the caller can act on."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            # A message can quote the request (a model id, a schema): never echo 500 KB.
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def from_core(exc: BaseException, *, param: str = "messages") -> ApiError:
    """The API error for a core failure; anything unexpected is a 500 with a log hint.

    ``param`` names the request's input field (a prompt that does not fit is its fault).
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ContextOverflow):
        return ApiError(400, str(exc), param=param, code="context_length_exceeded")
    if isinstance(exc, ModelNotFound | AmbiguousModelId):
        return ApiError(404, str(exc), param="model", code="model_not_found")
    if isinstance(exc, CollectionNotFound):
        return ApiError(404, str(exc), param=param, code="collection_not_found")
    if isinstance(exc, ChecksumMismatch | InvalidModelFile):
        return ApiError(
            409,
            f"The model was refused because it failed verification: {exc}",
            param="model",
            code="model_failed_verification",
        )
    if isinstance(exc, ModelLoadError):
        return ApiError(503, str(exc), type="server_error", param="model", code="model_load_failed")
    if isinstance(exc, DriftlessError):
        return ApiError(400, str(exc))
    return ApiError(
        500,
        f"Unexpected error: {type(exc).__name__}. The details are in Driftless's log.",
        type="server_error",
    )
