"""Key rings: seal under the newest key, open with any; settings refuse what is not a key
without echoing it."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from pydantic import ValidationError

from services.enrolment.settings import EnrolmentSettings
from services.notifications.settings import NotificationSettings
from shared.runtime.keys import KeyRing
from tests.support import signing_settings

A, B, C = (Fernet.generate_key().decode() for _ in range(3))


def test_seals_under_the_newest_and_opens_with_any() -> None:
    old = KeyRing(A).seal(b"secret")
    ring = KeyRing(f" {B} , {A}")
    assert ring.size == 2
    assert ring.open(old) == b"secret" and not ring.is_current(old)
    new = ring.seal(b"secret")
    assert ring.is_current(new) and KeyRing(B).open(new) == b"secret"
    with pytest.raises(InvalidToken):
        KeyRing(A).open(new)
    resealed = ring.reseal(old)
    assert ring.is_current(resealed) and KeyRing(B).open(resealed) == b"secret"
    with pytest.raises(InvalidToken):
        KeyRing(C).open(old)


@pytest.mark.parametrize("keys", ["", " , ", f"{A},", "short", f"{A},{A[:-4]}"])
def test_what_is_not_a_ring_of_keys_is_refused(keys: str) -> None:
    with pytest.raises(ValueError, match=r"no key given|is not a Fernet key"):
        KeyRing(keys)


def test_settings_refuse_a_bad_key_without_showing_it() -> None:
    secret = "this-is-not-a-fernet-key-but-is-secret"
    common = {"database_url": "postgresql://x/y", "kafka_bootstrap_servers": "k:9092",
              **signing_settings("notifications")}
    with pytest.raises(ValidationError) as refused:
        EnrolmentSettings(**common, lookup_key=C, personal_data_key=f"{A},{secret}")
    assert "key 2 of 2 is not a Fernet key" in str(refused.value)
    assert secret not in str(refused.value) and A not in str(refused.value)
    with pytest.raises(ValidationError, match="key 1 of 1"):
        NotificationSettings(**common, webhook_secret_key=secret)
    assert NotificationSettings(**common, webhook_secret_key=f"{B},{A}")


def test_a_missing_setting_does_not_show_the_keys_that_were_given() -> None:
    with pytest.raises(ValidationError) as refused:
        EnrolmentSettings(database_url="postgresql://x/y", lookup_key=C, personal_data_key=A)
    assert "SONGJI_KAFKA_BOOTSTRAP_SERVERS" in str(refused.value)
    # pydantic shortens a long input to its two ends: no end of a key may show either
    for key in (A, C):
        assert key[:12] not in str(refused.value) and key[-12:] not in str(refused.value)


def test_an_empty_webhook_key_setting_is_no_key() -> None:
    settings = NotificationSettings(database_url="postgresql://x/y",
                                    kafka_bootstrap_servers="k:9092", webhook_secret_key=" ",
                                    **signing_settings("notifications"))
    assert settings.webhook_secret_key is None
