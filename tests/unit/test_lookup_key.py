"""The national-ID lookup key must be a real secret: without it the index is just a list of
hashes of guessable numbers. A weak or placeholder key is refused at start, never shown."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from services.enrolment.settings import EnrolmentSettings
from shared.eventsourcing.signing import PublicKeys, new_key_pair
from shared.runtime.keys import check_random_secret
from songji.launcher import secrets_env

_PRIVATE, _PUBLIC = new_key_pair()
COMMON = {"database_url": "postgresql://x/y", "kafka_bootstrap_servers": "k:9092",
          "personal_data_key": Fernet.generate_key().decode(),
          "signing_key": _PRIVATE, "public_keys": PublicKeys.setting({"enrolment": _PUBLIC})}
WEAK = ["", "   ", "CHANGE-ME", "change-me", "k", "secret-lookup-key",
        secrets.token_hex(31), base64.b64encode(secrets.token_bytes(31)).decode(),
        "00" * 32, base64.b64encode(b"abcd" * 16).decode(), "A" * 43]


@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_or_placeholder_lookup_key_is_refused_without_being_shown(weak: str) -> None:
    with pytest.raises(ValidationError) as refused:
        EnrolmentSettings(**COMMON, lookup_key=weak)
    text = str(refused.value)
    assert "lookup_key" in text and "songji keys new" in text
    if len(weak.strip()) > 8:  # a short value is found in any text
        assert weak not in text


@pytest.mark.parametrize("strong", [
    Fernet.generate_key().decode(),  # `songji keys new`, and what the launcher makes
    secrets.token_hex(32),  # openssl rand -hex 32
    base64.b64encode(secrets.token_bytes(32)).decode(),  # openssl rand -base64 32
    secrets.token_urlsafe(48),  # unpadded URL-safe base64
])
def test_32_random_bytes_in_hex_or_base64_are_a_lookup_key(strong: str) -> None:
    settings = EnrolmentSettings(**COMMON, lookup_key=strong)
    assert settings.lookup_key.get_secret_value() == strong  # used as written


def test_the_key_the_launcher_makes_is_accepted(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SONGJI_LOOKUP_KEY", raising=False)
    made = secrets_env(tmp_path)["SONGJI_LOOKUP_KEY"]
    assert check_random_secret(made) == made
    EnrolmentSettings(**COMMON, lookup_key=made)


def test_enrolment_does_not_start_with_the_placeholder_and_says_why() -> None:
    env = {**os.environ, "SONGJI_DATABASE_URL": "postgresql://x/y",
           "SONGJI_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
           "SONGJI_PERSONAL_DATA_KEY": COMMON["personal_data_key"],
           "SONGJI_SIGNING_KEY": _PRIVATE, "SONGJI_PUBLIC_KEYS": COMMON["public_keys"],
           "SONGJI_LOOKUP_KEY": "CHANGE-ME"}
    done = subprocess.run([sys.executable, "-m", "services.enrolment"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "enrolment does not start" in done.stderr and "lookup_key" in done.stderr
    assert "CHANGE-ME" not in done.stderr + done.stdout
    assert COMMON["personal_data_key"] not in done.stderr + done.stdout
