"""``python -m app`` and the packaged app's entry: the same as the ``driftless`` command,
after the processor check (:mod:`app.cpu_floor`), which must come before NumPy or Qt load."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from app.cpu_floor import check


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    refused = check(arguments)
    if refused is not None:
        return refused
    from app.cli import main as cli_main

    return cli_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
