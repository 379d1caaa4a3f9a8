"""``driftless serve``: the OpenAI-compatible API over the installed models.

Binds 127.0.0.1 unless told otherwise; any other address needs an API key
(``--api-key-file``, ``$DRIFTLESS_API_KEY`` or ``--api-key``; a key on the command line is
visible to every user of the machine in ``ps``, so prefer the file or the variable).
Ctrl-C stops it. The address and the provenance of the default model go to stderr;
nothing is written to stdout.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from app.cli.common import add_gpu_layers_option, open_store, status
from app.core.serve.guard import Limits
from app.core.serve.server import (
    API_KEY_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ApiServer,
    ServeConfig,
    ServeConfigError,
)


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "serve",
        help="serve the installed models over an OpenAI-compatible HTTP API",
        description="Serve the installed models at http://HOST:PORT/v1 (OpenAI's API shapes). "
        "Every answer names the model file that made it.",
    )
    p.add_argument(
        "--model",
        metavar="ID",
        help="model used when a request names none (default: the active one)",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; any other needs a key)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument(
        "--api-key-file",
        type=Path,
        metavar="FILE",
        help="require 'Authorization: Bearer KEY', KEY being FILE's first line",
    )
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the same with KEY given here (visible to other users in ps: prefer "
        f"--api-key-file or ${API_KEY_ENV})",
    )
    p.add_argument(
        "--cors",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="let web pages from ORIGIN call the API (repeatable; off by default)",
    )
    p.add_argument("--context", type=int, metavar="N", help="context size in tokens")
    add_gpu_layers_option(p)
    p.add_argument(
        "--queue",
        type=int,
        default=8,
        metavar="N",
        help="requests that may wait per model before 429 (default 8)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=Limits().max_tokens,
        metavar="N",
        help="longest answer a request may ask for (default %(default)s)",
    )
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    key = _key_from_file(args.api_key_file) if args.api_key_file else None
    key = key or args.api_key or os.environ.get(API_KEY_ENV) or None
    config = ServeConfig(
        host=args.host,
        port=args.port,
        api_key=key,
        cors_origins=tuple(args.cors),
        model=args.model,
        n_ctx=args.context,
        gpu_layers=args.gpu_layers,
        max_waiting=args.queue,
        limits=Limits(max_tokens=args.max_tokens),
    )
    store = open_store(read_only_ok=True)
    server = ApiServer(store, config)
    default = server.pool.resolve(config.model) if config.model else store.active()
    status(f"Serving the API at {server.url} (Ctrl-C stops it).")
    if default is not None:
        status(f"Default model: {default.id} ({default.lock_id}, sha256 {default.sha256[:12]}…)")
    status("An API key is required." if key else "No API key: only this machine can connect.")
    server.serve_forever()
    return 0


def _key_from_file(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            line = handle.readline(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeConfigError(f"The API key file {path} cannot be read: {exc}.") from exc
    key = line.rstrip("\r\n")
    if not key:
        raise ServeConfigError(
            f"The API key file {path} is empty: write the key on its first line."
        )
    return key
