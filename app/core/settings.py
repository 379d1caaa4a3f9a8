"""User settings: the Hub endpoint, the offline switch, the access token, Classify's choices.

Settings live in ``settings.json`` in the data folder, written atomically. The
Hub access token is kept apart in ``hub-token`` with user-only permissions
(0600), is never logged, and never appears in ``repr``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from app.core.errors import DriftlessError
from app.core.fsutil import atomic_write_text
from app.core.paths import Paths

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"


class SettingsError(DriftlessError):
    """A setting has a value Driftless cannot use."""


def _default_endpoint() -> str:
    # HF_ENDPOINT is how company mirrors are configured for every Hugging Face tool.
    return os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT


@dataclass(frozen=True)
class Settings:
    hub_endpoint: str = field(default_factory=_default_endpoint)
    offline: bool = False
    # Seconds without a byte before a download counts as stalled and is retried.
    stall_timeout: float = 30.0
    download_retries: int = 5
    # Classify with a 16-bit copy of a small model's weights when that is faster
    # (app.core.models.unpacked); off: always the packed file, as chat uses it.
    unpack_for_classification: bool = True
    # The Classify page's last choices, so a restart does not forget them.
    classify_label_set: str = ""
    classify_method: str = "prompt"
    classify_style: str = "plain"
    classify_few_shot: bool = False
    classify_calibrated: bool = True
    classify_threshold: float = 0.5
    # How the window lays out exported results: "input" (like the file classified),
    # "excel" (for Excel in this locale) or "plain" (commas, UTF-8); see classify/dialect.py.
    export_layout: str = "input"
    # The window's local API server (app.core.serve): its port, whether other machines may
    # connect (then a key is required), the web origins allowed, and starting it with the window.
    api_port: int = 8765
    api_network: bool = False
    api_cors: str = ""
    api_autostart: bool = False
    # Where "Run on a cluster…" sends a file run: "auto", "ray://HOST:PORT" or "HOST:PORT";
    # empty, the Classify page offers no cluster run (app/core/cluster).
    cluster_address: str = ""
    # The model host (app.core.runtime.host): the most memory loaded models and their
    # contexts may take, in MB (0: whatever the machine has free), and how long a model
    # nobody uses stays loaded for the next request.
    memory_budget_mb: int = 0
    model_idle_seconds: float = 300.0
    # Saved KV states of conversations (app.core.chat.states): the most disk they may take,
    # in MB, least recently used removed first (0: none are saved).
    state_cache_mb: int = 2048
    # GPU offload (app.core.runtime.gpu): "auto" (what fits the GPU's free memory after the
    # context), "all", "0" (the CPU only) or a number of layers; per model id, overriding it.
    gpu_layers: str = "auto"
    gpu_layers_per_model: dict[str, str] = field(default_factory=dict)
    hub_token: str | None = field(default=None, repr=False, compare=False)
    api_key: str | None = field(default=None, repr=False, compare=False)

    def with_changes(self, **changes: Any) -> Settings:
        settings = replace(self, **changes)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not self.hub_endpoint.startswith(("http://", "https://")):
            raise SettingsError(
                f"The Hub endpoint '{self.hub_endpoint}' must start with http:// or https://."
            )
        if self.stall_timeout <= 0 or self.download_retries < 0:
            raise SettingsError("The stall timeout must be positive and the retries not negative.")
        if not 0.0 <= self.classify_threshold <= 1.0:
            raise SettingsError("The needs-review threshold must be between 0 and 1.")
        if not 1 <= self.api_port <= 65535:
            raise SettingsError(f"{self.api_port} is not a port number (1 to 65535).")
        if self.memory_budget_mb < 0 or self.model_idle_seconds < 0:
            raise SettingsError("The memory budget and the idle time cannot be negative.")
        if self.state_cache_mb < 0:
            raise SettingsError("The size of the saved conversation states cannot be negative.")
        for value in (self.gpu_layers, *self.gpu_layers_per_model.values()):
            try:
                parse_gpu_layers(value)
            except ValueError as exc:
                raise SettingsError(str(exc)) from None
        address = self.cluster_address
        if address and address != "auto" and ":" not in address:
            raise SettingsError(
                f"The cluster address '{address}' must be auto, ray://HOST:PORT or HOST:PORT."
            )


def parse_gpu_layers(value: str | int | None) -> str:
    """The canonical text of a "GPU layers" choice: ``auto``, ``all`` or a count ("0": the
    CPU only). Raises ValueError with a sentence for anything else."""
    if value is None:
        return "auto"
    text = str(value).strip().lower()
    if text in ("auto", "all"):
        return text
    if text in ("none", "cpu"):
        return "0"
    if text.isdigit():
        return str(int(text))
    raise ValueError(
        f"GPU layers '{value}' is not auto, all, 0 (the CPU only) or a number of layers."
    )


def gpu_layers_for(settings: Settings, model_id: str) -> str:
    """The "GPU layers" choice for a model: its own, else the general one."""
    return settings.gpu_layers_per_model.get(model_id, settings.gpu_layers)


def token_path(paths: Paths) -> Path:
    return paths.home / "hub-token"


def api_key_path(paths: Paths) -> Path:
    return paths.home / "api-key"


def load_settings(paths: Paths) -> Settings:
    """The saved settings; defaults where the file is missing or a value is unusable."""
    data: dict[str, Any] = {}
    try:
        raw = json.loads(paths.settings_file.read_text(encoding="utf-8"))
        if isinstance(raw, dict):
            data = raw
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable settings file %s: %s", paths.settings_file, exc)
    defaults = Settings()
    known = {f.name: f for f in fields(Settings) if f.name not in _SECRETS}
    values: dict[str, Any] = {}
    for name, item in data.items():
        if name in known and isinstance(item, type(getattr(defaults, name))):
            values[name] = item
    settings = replace(defaults, **values)
    try:
        settings.validate()
    except SettingsError as exc:
        log.warning("Ignoring invalid settings: %s", exc)
        settings = defaults
    return replace(
        settings,
        hub_token=_read_secret(token_path(paths), "Hub token"),
        api_key=_read_secret(api_key_path(paths), "API key"),
    )


def save_settings(paths: Paths, settings: Settings) -> None:
    settings.validate()
    data = asdict(settings)
    secrets = {name: data.pop(name) for name in _SECRETS}
    atomic_write_text(paths.settings_file, json.dumps(data, indent=2) + "\n")
    for name, path in (("hub_token", token_path(paths)), ("api_key", api_key_path(paths))):
        if secrets[name]:
            atomic_write_text(path, secrets[name].strip() + "\n", mode=0o600)
        else:
            path.unlink(missing_ok=True)


_SECRETS = ("hub_token", "api_key")
"""Kept apart from settings.json, each in a file only the user can read."""


def _read_secret(path: Path, what: str) -> str | None:
    try:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # tighten a secret file someone loosened
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("Cannot read the %s file: %s", what, exc.strerror)
        return None
    return secret or None
