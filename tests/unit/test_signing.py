"""The Ed25519 keys that make published events verifiable."""

from __future__ import annotations

import pytest

from shared.eventsourcing.signing import BadSignature, PublicKeys, SigningKey, new_key_pair


def test_what_a_service_signs_verifies_under_its_key_and_no_other() -> None:
    private, public = new_key_pair()
    other_private, other_public = new_key_pair()
    keys = PublicKeys.from_setting(PublicKeys.setting({"funding": public,
                                                       "training": other_public}))
    signature = SigningKey(private).sign(b"event bytes")
    keys.verify("funding", b"event bytes", signature)
    with pytest.raises(BadSignature):
        keys.verify("funding", b"event bytes!", signature)  # altered data
    with pytest.raises(BadSignature):
        keys.verify("training", b"event bytes", signature)  # another service's key
    with pytest.raises(BadSignature):
        keys.verify("assessment", b"event bytes", signature)  # no key configured
    with pytest.raises(BadSignature):
        keys.verify("funding", b"event bytes", SigningKey(other_private).sign(b"event bytes"))


def test_a_rotated_key_and_its_predecessor_both_verify() -> None:
    old_private, old_public = new_key_pair()
    new_private, new_public = new_key_pair()
    keys = PublicKeys.from_setting(f'{{"funding": "{new_public},{old_public}"}}')
    keys.verify("funding", b"x", SigningKey(old_private).sign(b"x"))
    keys.verify("funding", b"x", SigningKey(new_private).sign(b"x"))


@pytest.mark.parametrize("value", ["", "CHANGE-ME", "not base64 !", "c2hvcnQ="])
def test_a_signing_key_that_is_not_a_key_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(ValueError) as refused:
        SigningKey(value)
    assert value not in str(refused.value) or value == ""


@pytest.mark.parametrize("value", ["[]", '{"funding": 3}', "nope", '{"funding": ""}'])
def test_public_keys_that_do_not_parse_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        PublicKeys.from_setting(value)
