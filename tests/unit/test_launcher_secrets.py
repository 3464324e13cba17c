"""The keys `songji up` gives the services: each from the environment when set there, else kept
in the state folder (made once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.infra.launcher import SECRET_SETTINGS, saved_secrets, secrets_env


def test_keys_are_made_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    first = secrets_env(tmp_path)
    assert set(first) == set(SECRET_SETTINGS) and all(first.values())
    assert secrets_env(tmp_path) == first == saved_secrets(tmp_path)
    assert (tmp_path / "secrets.env").stat().st_mode & 0o777 == 0o600


def test_a_key_set_in_the_environment_wins_over_the_kept_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SECRET_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    kept = secrets_env(tmp_path)
    rotating = f"new-key,{kept['SONGJI_PERSONAL_DATA_KEY']}"
    monkeypatch.setenv("SONGJI_PERSONAL_DATA_KEY", rotating)
    given = secrets_env(tmp_path)
    assert given["SONGJI_PERSONAL_DATA_KEY"] == rotating
    assert given["SONGJI_LOOKUP_KEY"] == kept["SONGJI_LOOKUP_KEY"]
    assert saved_secrets(tmp_path) == kept  # the file is left as it was
