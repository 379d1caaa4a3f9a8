"""The ``driftless`` command line: a second thin front over :mod:`app.core`.

With no subcommand it opens the window. Output meant for scripts (``--json``, a
chat reply) goes to stdout alone; progress and status go to stderr. Every failure
is one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app import APP_NAME, __version__
from app.cli import chat as chat_cmd
from app.cli import classify as classify_cmd
from app.cli import cluster as cluster_cmd
from app.cli import docs as docs_cmd
from app.cli import drift as drift_cmd
from app.cli import models as models_cmd
from app.cli import serve as serve_cmd
from app.cli.common import error
from app.core.errors import LOG_HINT, Cancelled, describe_failure
from app.core.logs import setup_logging, stop_logging
from app.core.paths import HOME_ENV, get_paths
from app.core.runtime.probe import PROBE_FLAG
from app.core.runtime.probe import main as probe_main

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftless",
        description=f"{APP_NAME}: a private desktop assistant for small language models. "
        "With no command, opens the window.",
    )
    parser.add_argument(
        "--version",
        action=VersionAction,
        nargs=0,
        help="show the version, llama.cpp's CPU kernels and the GPUs it can use, and exit",
    )
    parser.add_argument(
        "--home",
        metavar="DIR",
        help=f"data folder to use instead of the default (also ${HOME_ENV})",
    )
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="start the window offscreen, load the starter model, generate a few words, "
        "exit 0 if all of it worked (tests a packaged build)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    models_cmd.add_parser(commands)
    chat_cmd.add_parser(commands)
    classify_cmd.add_classify_parser(commands, on_cluster=cluster_cmd.classify_on_cluster)
    classify_cmd.add_eval_parser(commands, on_cluster=cluster_cmd.evaluate_on_cluster)
    serve_cmd.add_parser(commands)
    drift_cmd.add_parser(commands)
    docs_cmd.add_parser(commands)
    return parser


class VersionAction(argparse.Action):
    """``--version``: the version line, then what llama.cpp runs on here (one line each)."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        print(f"driftless {__version__}", flush=True)
        try:
            from app.core.runtime.gpu import discover
            from app.core.runtime.llama import cpu_kernels

            found = discover()
            print(f"llama.cpp CPU kernels: {cpu_kernels()}")
            for device in found.devices:
                driver = f", driver {device.driver}" if device.driver else ""
                print(f"GPU {device.name}: {device.description}{driver}")
            if not found.devices:
                print(f"GPU: none ({found.cpu_only_reason})")
        except Exception as exc:  # a broken llama.cpp still has a version to show
            print(f"llama.cpp: not available ({exc})")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == [PROBE_FLAG]:
        # A frozen build's load probe (sys.executable is Driftless itself): nothing else.
        return probe_main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.home:
        # One place decides the data folder; the window and workers read it too.
        os.environ[HOME_ENV] = os.path.abspath(os.path.expanduser(args.home))
    if args.command is None:
        if args.smoke_test:
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from app.ui.application import run_gui

        return run_gui(smoke_test=args.smoke_test)
    log_path = _start_logging()
    try:
        result: int = args.handler(args)
        return result
    except KeyboardInterrupt:
        error("interrupted.")
        return 130
    except Exception as exc:
        error(_describe(exc, log_path))
        return 130 if isinstance(exc, Cancelled) else 1
    finally:
        stop_logging()


def _start_logging() -> Path | None:
    """The command line logs to the same file as the window, when the data folder allows."""
    try:
        return setup_logging(get_paths())
    except Exception:  # a read-only or missing data folder: the command may still work
        return None


def _describe(exc: Exception, log_path: Path | None) -> str:
    """The one line a failure gets; an unexpected one also leaves its traceback in the log."""
    if isinstance(exc, Cancelled):
        return "cancelled."
    message = describe_failure(exc, log)
    return message.replace(LOG_HINT, f"The details are in {log_path}.") if log_path else message
