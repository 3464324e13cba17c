"""The keys `songji up` gives the services: each from the environment when set there, else kept
in the state folder (made once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from songji.launcher import SECRET_SETTINGS, saved_secrets, secrets_env


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


def test_each_service_is_given_its_own_signing_key_and_everyones_public_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.eventsourcing.signing import SigningKey
    from shared.eventsourcing.topics import SERVICES
    from shared.infra.signing_keys import PRIVATE_FILE, known_public_keys, private_keys
    from songji.launcher import Launcher

    monkeypatch.setenv("SONGJI_SIGNING_KEY", "set-for-another-process")
    monkeypatch.delenv("SONGJI_PUBLIC_KEYS", raising=False)
    launcher = Launcher(postgres_url="postgresql://x", kafka_bootstrap="k:9092",
                        state_dir=tmp_path)
    spawned: dict[str, dict[str, str]] = {}

    class Popen:  # what each service process would be started with
        def __init__(self, argv: list[str], env: dict[str, str], **_: object) -> None:
            spawned[argv[-1].removeprefix("services.")] = env

    monkeypatch.setattr("subprocess.Popen", Popen)
    for port, service in enumerate(SERVICES, start=9000):
        launcher._spawn(service, "postgresql://x/y", port)
    kept = private_keys(tmp_path)
    assert set(spawned) == set(kept) == set(SERVICES)
    assert (tmp_path / PRIVATE_FILE).stat().st_mode & 0o777 == 0o600
    keys = known_public_keys(tmp_path)
    for service, env in spawned.items():
        assert env["SONGJI_SIGNING_KEY"] == kept[service]
        others = [k for s, k in kept.items() if s != service]
        assert not any(k in v for k in others for v in env.values())
        for other in SERVICES:
            assert keys.holds(other, SigningKey(kept[other]).public_text())
        assert env["SONGJI_PUBLIC_KEYS"] == spawned["training"]["SONGJI_PUBLIC_KEYS"]
    assert private_keys(tmp_path) == kept  # made once
