"""The Driftless core: plain Python, never Qt.

Everything the window and the command line do goes through this package, so both
fronts share one behaviour. Nothing here may import PySide6 or ``app.ui``; an
import-linter contract and a test enforce it.
"""
