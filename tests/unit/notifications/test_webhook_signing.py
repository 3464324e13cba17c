"""Webhook signatures: what Songji sends and what an integrator checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from uuid import uuid4

from services.notifications.domain import webhooks as signing
from shared.contracts import Envelope


def envelope() -> Envelope:
    return Envelope(id=uuid4(), source="/songji/assessment",
                    type="songji.assessment.SkillLevelCertified.v1", subject="cert-1",
                    time=datetime(2025, 8, 10, 2, 0, tzinfo=UTC), data={"worker_id": "w-1"},
                    schema_version=1, correlation_id="journey-7", causation_id=None,
                    actor_org="body-1", stream_version=1, position=42)


def test_structured_event_has_the_cloudevents_attributes_and_songji_extensions():
    env = envelope()
    event = signing.structured_event(env)
    assert event["specversion"] == "1.0" and event["id"] == str(env.id)
    assert event["datacontenttype"] == "application/json"
    assert event["data"] == {"worker_id": "w-1"}
    assert (event["correlationid"], event["actororg"], event["position"]) == (
        "journey-7", "body-1", 42)
    assert "causationid" not in event and "actoruser" not in event  # absent, not null
    assert json.loads(signing.encode(event)) == event


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"a":1}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signing.signature("whsec_x", 1700000000, body) == f"sha256={expected}"


def test_verify_accepts_the_signature_and_refuses_tampering_other_keys_and_replays():
    body = signing.encode(signing.structured_event(envelope()))
    ts = 1_754_791_200
    header = signing.signature("whsec_right", ts, body)
    assert signing.verify("whsec_right", str(ts), header, body, now=ts + 10)
    assert not signing.verify("whsec_wrong", str(ts), header, body, now=ts)
    assert not signing.verify("whsec_right", str(ts), header, body + b" ", now=ts)
    assert not signing.verify("whsec_right", str(ts + 1), header, body, now=ts)
    assert not signing.verify("whsec_right", str(ts), header, body, now=ts + 301)
    assert not signing.verify("whsec_right", "soon", header, body, now=ts)
