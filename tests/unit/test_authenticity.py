"""What the relay signs and what every reader checks before applying or counting an event."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contracts import Envelope
from shared.contracts.training import AttendanceRecorded
from shared.eventsourcing import authenticity
from shared.eventsourcing.authenticity import (
    AUTHENTIC,
    PROOF_HEADER,
    SIGNATURE_HEADER,
    UNKNOWN_TYPE,
    Authenticity,
    Forged,
    owner_of_type,
    sign_batch,
    signed_bytes,
)
from shared.eventsourcing.signing import SigningKey, new_key_pair
from shared.runtime.service import ServiceSpec, signing_keys
from shared.runtime.settings import ServiceSettings
from tests.support import TEST_PRIVATE_KEYS, TEST_PUBLIC_KEYS, public_keys_in_tests, signed

TRAINING, ENROLMENT = "songji.training.events", "songji.enrolment.events"
OWNERS = {TRAINING: "training", ENROLMENT: "enrolment"}


def attendance(source: str = "/songji/training") -> Envelope:
    event = AttendanceRecorded(attendance_id="a-1", class_id="c-1", session_id="s1",
                               session_date="2025-03-01", worker_id="w-1", minutes=240,
                               method="face_check")
    return Envelope(id=uuid.uuid4(), source=source, type=event.ce_type(), subject="c-1",
                    time=datetime(2025, 3, 1, 20, tzinfo=UTC),
                    data=event.model_dump(mode="json"), schema_version=1,
                    correlation_id="corr", causation_id="cause", actor_org="org",
                    actor_user="user", stream_version=3, position=17)


def check(headers: list[tuple[str, bytes]], value: bytes, topic: str = TRAINING) -> None:
    Authenticity(public_keys_in_tests(), OWNERS).check(dict(headers), value, topic)


def test_what_the_owning_service_signed_passes_as_bytes_and_as_text() -> None:
    value, headers = signed(attendance())
    check(headers, value)
    Authenticity(public_keys_in_tests(), OWNERS).check(
        {k: v.decode() for k, v in headers}, value, TRAINING)  # as the inbox reads them
    assert signed_bytes(headers, value) == signed_bytes(list(reversed(headers)), value)


@pytest.mark.parametrize("name", [
    "ce_id", "ce_subject", "ce_time", "ce_specversion", "ce_schemaversion",
    "ce_correlationid", "ce_causationid", "ce_actororg", "ce_actoruser", "ce_streamversion",
    "ce_position"])
def test_any_attribute_changed_added_or_removed_breaks_the_signature(name: str) -> None:
    value, headers = signed(attendance())
    changed = [(k, v + b"0" if k == name else v) for k, v in headers]
    removed = [(k, v) for k, v in headers if k != name]
    for forged in (changed, removed):
        with pytest.raises(Forged, match="does not verify under training's key"):
            check(forged, value)
    with pytest.raises(Forged, match="does not verify"):
        check([*headers, ("ce_extra", b"x")], value)


def test_a_body_swapped_breaks_the_signature() -> None:
    value, headers = signed(attendance())
    with pytest.raises(Forged, match="does not verify"):
        check(headers, value.replace(b"240", b"999"))


def test_unsigned_or_signed_with_another_key_is_refused() -> None:
    value, headers = signed(attendance())
    unsigned = [(k, v) for k, v in headers if k != SIGNATURE_HEADER]
    with pytest.raises(Forged, match="unsigned"):
        check(unsigned, value)
    _, attacker = signed(attendance(), key=new_key_pair()[0])
    with pytest.raises(Forged, match="does not verify under training's key"):
        check(attacker, value)
    _, enrolments = signed(attendance(), key=TEST_PRIVATE_KEYS["enrolment"])
    with pytest.raises(Forged, match="does not verify under training's key"):
        check(enrolments, value)
    with pytest.raises(Forged, match="not URL-safe base64"):
        check([*unsigned, (SIGNATURE_HEADER, b"%%%")], value)


def test_a_type_on_another_services_topic_or_from_another_source_is_refused() -> None:
    value, headers = signed(attendance())
    with pytest.raises(Forged, match="belongs to training, not to the topic of enrolment"):
        check(headers, value, ENROLMENT)
    with pytest.raises(Forged, match="no service owns"):
        check(headers, value, "songji.elsewhere")
    value, headers = signed(attendance("https://attacker.example"),
                            key=TEST_PRIVATE_KEYS["training"])
    with pytest.raises(Forged, match=r"ce_source 'https://attacker\.example'"):
        check(headers, value)


def test_the_owner_of_a_type_comes_from_its_contract() -> None:
    assert owner_of_type(AttendanceRecorded.ce_type()) == "training"


def test_the_settings_refuse_a_bad_key_without_showing_it() -> None:
    secret = "CHANGE-ME-this-is-not-a-key"
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(database_url="postgresql://x/y", kafka_bootstrap_servers="k:9092",
                        signing_key=secret, public_keys=TEST_PUBLIC_KEYS)
    assert "signing_key" in str(refused.value) and secret not in str(refused.value)
    with pytest.raises(ValidationError, match="signing_key"):
        ServiceSettings(database_url="postgresql://x/y", kafka_bootstrap_servers="k:9092",
                        public_keys=TEST_PUBLIC_KEYS)


def test_a_service_whose_key_is_not_among_the_public_keys_does_not_start() -> None:
    settings = ServiceSettings(database_url="postgresql://x/y", kafka_bootstrap_servers="k",
                               signing_key=new_key_pair()[0], public_keys=TEST_PUBLIC_KEYS)
    with pytest.raises(ValueError, match="no key of training matching SONGJI_SIGNING_KEY"):
        signing_keys(ServiceSpec(name="training", title="t", description="d"), settings)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_each_event_of_a_signed_batch_verifies_on_its_own_and_the_root_once(
        size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [(attendance().kafka_headers(), attendance().kafka_value()) for _ in range(size)]
    sign_batch(records, SigningKey(TEST_PRIVATE_KEYS["training"]))
    keys = public_keys_in_tests()
    verifications = []
    real_verify = keys.verify
    monkeypatch.setattr(keys, "verify", lambda *a: (verifications.append(a), real_verify(*a)))
    reader = Authenticity(keys, OWNERS)
    for headers, value in reversed(records):  # in any order, from any partition
        reader.check(dict(headers), value, TRAINING)
    assert len(verifications) == 1  # one signature for the batch, verified once
    assert len({dict(h)[SIGNATURE_HEADER] for h, _ in records}) == 1
    if size > 1:
        (first, value), (second, _) = records[0], records[1]
        swapped = {**dict(first), PROOF_HEADER: dict(second)[PROOF_HEADER]}
        cut = {**dict(first), PROOF_HEADER: dict(first)[PROOF_HEADER][:-4]}
        for headers in (swapped, cut):
            with pytest.raises(Forged):
                Authenticity(keys, OWNERS).check(headers, value, TRAINING)
        # a genuine signature with a forged event's own proof leads to another root
        forged_value = value.replace(b"240", b"999")
        with pytest.raises(Forged, match="does not verify"):
            reader.check(dict(first), forged_value, TRAINING)


def test_a_relay_batch_is_signed_64_events_at_a_time() -> None:
    records = [(attendance().kafka_headers(), attendance().kafka_value()) for _ in range(130)]
    sign_batch(records, SigningKey(TEST_PRIVATE_KEYS["training"]))
    signatures = [dict(h)[SIGNATURE_HEADER] for h, _ in records]
    assert [len(set(signatures[i:i + 64])) for i in (0, 64, 128)] == [1, 1, 1]
    assert len(set(signatures)) == 3
    reader = Authenticity(public_keys_in_tests(), OWNERS)
    for headers, value in records:
        reader.check(dict(headers), value, TRAINING)
    assert len(dict(records[0][0])[PROOF_HEADER]) == 6 * 44  # six steps of 33 bytes


_NAMES = st.sampled_from([
    "ce_id", "ce_type", "ce_time", "ce_source", "ce_a", "ce_", "ce_é", "ce_Z", "ce_signature",
    "ce_signatureproof", "content-type", "traceparent", "CE_ID", "ce_position"])
_VALUES = st.one_of(st.binary(max_size=40), st.text(max_size=20))


@settings(deadline=None)
@given(headers=st.dictionaries(_NAMES, _VALUES, max_size=14), body=st.binary(max_size=60))
def test_a_mapping_signs_as_its_pairs_do(headers: dict[str, bytes | str], body: bytes
                                         ) -> None:
    """Readers pass a mapping, the relay pairs: the signed bytes are the same, whatever the
    names (signed or not, in any order) and values (bytes or text), however many times a
    sequence of names comes back."""
    for _ in range(2):  # the second time, the sequence of names is one already met
        assert authenticity.signed_bytes(headers, body) == authenticity.signed_bytes(
            list(reversed(headers.items())), body)


@settings(deadline=None)
@given(st.one_of(st.text(alphabet="AZaz09-_+/= \n.é", max_size=12),
                 st.binary(max_size=12).map(base64.urlsafe_b64encode),
                 st.binary(max_size=12)))
def test_a_signature_or_proof_decodes_as_b64decode_reads_url_safe_base64(
        encoded: str | bytes) -> None:
    raw = encoded if isinstance(encoded, bytes) else encoded.encode()
    try:
        expected: bytes | None = base64.b64decode(raw, altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        expected = None
    try:
        decoded: bytes | None = authenticity._decoded(encoded, "it")
    except Forged:
        decoded = None
    assert decoded == expected


def test_a_verdict_is_what_check_raises_or_not() -> None:
    """What the auditor's topic reader hands over instead of checking again: authentic, of
    an unknown type, or forged with the reason ``check`` gives."""
    reader = Authenticity(public_keys_in_tests(), OWNERS)
    value, headers = signed(attendance())
    assert reader.verdict(dict(headers), value, TRAINING) is AUTHENTIC
    unknown = {**dict(headers), "ce_type": b"songji.training.NoSuchThing"}
    assert reader.verdict(unknown, value, TRAINING) is UNKNOWN_TYPE
    for forged, topic in ((dict(headers), ENROLMENT),
                          ({**dict(headers), "ce_id": b"other"}, TRAINING),
                          ({**dict(headers), SIGNATURE_HEADER: b"!"}, TRAINING)):
        with pytest.raises(Forged) as refused:
            reader.check(forged, value, topic)
        assert reader.verdict(forged, value, topic) == str(refused.value) != ""
