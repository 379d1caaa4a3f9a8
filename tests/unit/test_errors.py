"""One rule turns an exception into a user's sentence, and logs what is unexpected."""

from __future__ import annotations

import errno
import logging

import pytest

from app.core.errors import LOG_HINT, ModelNotFound, describe_failure


def test_own_errors_are_already_sentences(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        text = describe_failure(ModelNotFound("No installed model is called 'x'."))
    assert text == "No installed model is called 'x'."
    assert not any(r.exc_info for r in caplog.records)


def test_an_os_error_gives_its_reason_and_file() -> None:
    exc = OSError(errno.ENOSPC, "No space left on device", "/data/model.gguf")
    assert describe_failure(exc) == "No space left on device: /data/model.gguf"
    assert describe_failure(PermissionError(errno.EACCES, "Permission denied")) == (
        "Permission denied"
    )


def test_an_unexpected_error_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("app.test")

    def fail() -> None:
        raise KeyError("tokenizer")

    try:
        fail()
    except KeyError as exc:
        with caplog.at_level(logging.ERROR):
            text = describe_failure(exc, log)
    assert text == f"Unexpected error: KeyError: 'tokenizer'. {LOG_HINT}"
    (record,) = caplog.records
    assert record.name == "app.test"
    assert record.exc_info is not None
    assert "in fail" in caplog.text  # the traceback, with the frame that raised
