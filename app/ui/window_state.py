"""What the window remembers between starts: size, position, last page, splitters, welcome.

Kept in ``window.ini`` inside the data folder (not the user's global Qt settings), so a
portable install carries it along and every test starts from a clean slate.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

FILE_NAME = "window.ini"


class WindowState:
    """A thin, typed wrapper over one ``QSettings`` INI file."""

    def __init__(self, home: Path) -> None:
        self.path = home / FILE_NAME
        self._settings = QSettings(str(self.path), QSettings.Format.IniFormat)

    # --- first run ----------------------------------------------------------

    @property
    def welcomed(self) -> bool:
        return self._bool("welcome/shown")

    def mark_welcomed(self) -> None:
        self._settings.setValue("welcome/shown", True)
        self._settings.sync()

    # --- the window ----------------------------------------------------------

    def geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry")

    def page(self) -> str | None:
        value = self._settings.value("window/page")
        return value if isinstance(value, str) and value else None

    def splitter(self, name: str) -> QByteArray | None:
        return self._bytes(f"splitters/{name}")

    def save(self, *, geometry: QByteArray, page: str, splitters: dict[str, QByteArray]) -> None:
        self._settings.setValue("window/geometry", geometry)
        self._settings.setValue("window/page", page)
        for name, state in splitters.items():
            self._settings.setValue(f"splitters/{name}", state)
        self._settings.sync()

    # --- reading values back -------------------------------------------------

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._settings.value(key)
        if isinstance(value, QByteArray) and not value.isEmpty():
            return value
        if isinstance(value, bytes) and value:
            return QByteArray(value)
        return None

    def _bool(self, key: str) -> bool:
        value = self._settings.value(key, False)
        if isinstance(value, str):  # INI files keep booleans as text
            return value.lower() in ("true", "1")
        return bool(value)
