"""Webhook signatures: what Songji sends and what an integrator checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError

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


def test_standard_signature_is_verified_by_the_standard_webhooks_library():
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(signing.signing_key(secret)) == 32
    body = signing.encode(signing.structured_event(envelope()))
    ts = int(datetime.now(UTC).timestamp())
    headers = signing.standard_headers(secret, "d-1", ts, body)
    assert StandardWebhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(secret).verify(body, {**headers, "webhook-id": "d-2"})
    stale = signing.standard_headers(secret, "d-1", ts - 301, body)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(secret).verify(body, stale)


def test_standard_signature_is_v1_base64_hmac_of_id_dot_timestamp_dot_body():
    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    mac = hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert signing.standard_signature(secret, "msg_1", 1700000000, b"{}") == \
        "v1," + base64.b64encode(mac).decode()


def test_a_secret_issued_before_is_its_url_safe_bytes_and_a_library_takes_it_converted():
    key = bytes([0xFB, 0xFF] * 16)  # encodes to URL-safe characters - and _
    old = "whsec_" + base64.urlsafe_b64encode(key).decode().rstrip("=")
    assert "-" in old or "_" in old
    assert signing.signing_key(old) == key
    body, ts = b'{"a":1}', int(datetime.now(UTC).timestamp())
    headers = signing.standard_headers(old, "d-1", ts, body)
    # as docs/integrators.md says: the part after whsec_ only (its own _ stays)
    converted = "whsec_" + old.removeprefix("whsec_").replace("-", "+").replace("_", "/")
    StandardWebhook(converted).verify(body, headers)


@pytest.mark.parametrize("given", [
    "whsec_" + base64.b64encode(bytes(24)).decode(),
    "whsec_" + base64.b64encode(bytes(64)).decode().rstrip("="),
])
def test_an_integrators_own_secret_is_taken_when_standard(given):
    assert signing.checked_secret(given) == given


@pytest.mark.parametrize("given", [
    base64.b64encode(bytes(32)).decode(),                    # no prefix
    "whsec_" + base64.b64encode(bytes(16)).decode(),         # too short
    "whsec_" + base64.b64encode(bytes(65)).decode(),         # too long
    "whsec_" + base64.urlsafe_b64encode(bytes([0xFB] * 32)).decode(),  # not standard base64
    "whsec_not base64 at all!",
])
def test_an_integrators_secret_that_is_not_standard_is_refused(given):
    with pytest.raises(signing.InvalidSecret):
        signing.checked_secret(given)
