"""Settings on disk: the secrets kept apart and private, bad values never used."""

from __future__ import annotations

import json
import os
import stat

import pytest

from app.core.paths import Paths
from app.core.settings import (
    Settings,
    SettingsError,
    api_key_path,
    load_settings,
    save_settings,
    token_path,
)


def test_secrets_live_in_private_files_not_in_settings_json(paths: Paths) -> None:
    chosen = Settings().with_changes(
        hub_token="hf_secret", api_key="api-secret-0123456789", api_port=9000, api_network=True
    )
    save_settings(paths, chosen)
    text = paths.settings_file.read_text()
    assert "hf_secret" not in text and "api-secret" not in text
    assert json.loads(text)["api_port"] == 9000
    for path in (token_path(paths), api_key_path(paths)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_settings(paths)
    assert (loaded.hub_token, loaded.api_key) == ("hf_secret", "api-secret-0123456789")
    assert (loaded.api_port, loaded.api_network) == (9000, True)
    assert "api-secret" not in repr(loaded)

    save_settings(paths, loaded.with_changes(api_key=None))
    assert not api_key_path(paths).exists(), "clearing the key removes its file"
    assert token_path(paths).exists()


def test_a_loosened_key_file_is_tightened(paths: Paths) -> None:
    save_settings(paths, Settings().with_changes(api_key="api-secret-0123456789"))
    os.chmod(api_key_path(paths), 0o644)
    assert load_settings(paths).api_key == "api-secret-0123456789"
    assert stat.S_IMODE(api_key_path(paths).stat().st_mode) == 0o600


def test_an_impossible_port_is_refused_and_never_loaded(paths: Paths) -> None:
    with pytest.raises(SettingsError, match="70000 is not a port number"):
        Settings().with_changes(api_port=70000)
    paths.settings_file.write_text(json.dumps({"api_port": 0, "offline": True}))
    assert load_settings(paths) == Settings(), "an invalid file falls back to the defaults"
