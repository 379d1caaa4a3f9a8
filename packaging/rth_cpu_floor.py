# PyInstaller runtime hook (packaging/driftless.spec): the processor check, first of all.
# Custom runtime hooks run before PyInstaller's own, and PySide6's imports shiboken and Qt,
# which die of "Illegal instruction" below x86-64-v2 before app/__main__.py could say why.
import sys

from app.cpu_floor import check

_refused = check()
if _refused is not None:
    sys.exit(_refused)
