"""A sealed head opens only under its service's key, on its own service's topic; the digest
the auditor keeps of a stored event is the one of the record its relay publishes."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from shared.audit.published import COVERED, TopicImage, digest, stored_digest
from shared.eventsourcing.heads import SIGNATURE_HEADER, SealedHead, Seals, open_seal, seal
from shared.eventsourcing.signing import BadSignature, PublicKeys, SigningKey, new_key_pair
from shared.eventsourcing.store import StoredEvent

TRAINING, ENROLMENT = new_key_pair(), new_key_pair()
KEYS = PublicKeys({"training": [TRAINING[1]], "enrolment": [ENROLMENT[1]]})
HEAD = SealedHead("training", 42, bytes(range(32)), datetime(2025, 8, 1, 8, 0, tzinfo=UTC))


def test_a_seal_opens_under_its_services_key() -> None:
    value, headers = seal(SigningKey(TRAINING[0]), HEAD)
    assert open_seal(KEYS, "training", value, headers) == HEAD


def test_a_seal_under_another_key_or_altered_or_on_another_topic_is_refused() -> None:
    value, headers = seal(SigningKey(ENROLMENT[0]), HEAD)
    with pytest.raises(BadSignature):
        open_seal(KEYS, "training", value, headers)
    value, headers = seal(SigningKey(TRAINING[0]), HEAD)
    with pytest.raises(BadSignature):
        open_seal(KEYS, "training", value.replace(b"42", b"43"), headers)
    enrolment = SealedHead("enrolment", 1, bytes(32), HEAD.sealed_at)
    value, headers = seal(SigningKey(ENROLMENT[0]), enrolment)
    assert open_seal(KEYS, "enrolment", value, headers) == enrolment
    with pytest.raises(BadSignature):  # signed by enrolment, but on training's topic
        open_seal(KEYS, "training", value, headers)
    with pytest.raises(ValueError, match="no signature"):
        open_seal(KEYS, "training", value, [(SIGNATURE_HEADER, None)])


def test_a_signature_of_the_bare_value_is_not_a_seal() -> None:
    """Only what was signed as a seal (under its prefix) opens as one."""
    value = HEAD.payload()
    bare = base64.urlsafe_b64encode(SigningKey(TRAINING[0]).sign(value))
    with pytest.raises(BadSignature):
        open_seal(KEYS, "training", value, [(SIGNATURE_HEADER, bare)])


def test_two_seals_of_one_position_are_both_checked() -> None:
    seals = Seals()
    seals.add(HEAD)
    seals.add(HEAD)
    seals.add(SealedHead("training", 42, bytes(32), HEAD.sealed_at))
    assert seals.hashes() == {42: [HEAD.chain_hash, bytes(32)]}
    assert seals.latest == HEAD


def _event(position: int) -> StoredEvent:
    return StoredEvent(position, uuid.uuid4(), "worker-1", 1,
                       "songji.enrolment.WorkerRegistered.v1", 1,
                       {"worker_id": "w1", "gender": "female", "birth_year": 1990},
                       {"correlation_id": "c", "causation_id": None, "actor": {}},
                       datetime(2025, 8, 1, tzinfo=UTC), bytes(32))


def test_the_stored_digest_is_the_published_records() -> None:
    event = _event(7)
    headers = dict(event.kafka_headers("enrolment"))
    assert stored_digest(event, "enrolment") == digest(
        [headers.get(name) for name in COVERED], event.kafka_value())
    assert stored_digest(event, "enrolment") != stored_digest(event, "training")  # the source


def test_the_image_keeps_one_digest_a_position_and_sets_aside_the_rest() -> None:
    event = _event(2)
    names, values = zip(*event.kafka_headers("enrolment"), strict=True)
    image = TopicImage(["enrolment"], {"enrolment": (2, 2)})
    image.add("enrolment", names, values, event.kafka_value())
    image.add("enrolment", names, values, event.kafka_value())  # redelivered: the same
    assert image.aside["enrolment"] == []
    image.add("enrolment", names, values, b'{"worker_id":"w2"}')  # another at its position
    past_the_end = tuple(b"9" if n == "ce_position" else v for n, v in zip(names, values,
                                                                           strict=True))
    image.add("enrolment", names, past_the_end, event.kafka_value())
    assert [p for p, _, _ in image.aside["enrolment"]] == [2, 9]
    image.add("enrolment", names[:2], values[:2], b"{}")  # names no position
    assert [d.problem for d in image.differences] == ["no_position"]
    assert image.records == 5
