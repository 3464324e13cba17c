"""Integrators' webhooks on the real servers: registration, signed structured CloudEvents,
retries with a delivery log, exactly one delivery per event under redelivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError

from services.notifications.app import SPEC as NOTIFICATIONS
from shared.auth.tokens import hash_token
from shared.eventsourcing.topics import events_topic
from tests.integration.notify_fakes import ENROLMENT_TOKEN, Fakes, publish, serve_fakes
from tests.integration.test_notifications import registered
from tests.support import eventually, produce, read_topic, running_service
from tests.unit.notifications import events as ev

pytestmark = pytest.mark.integration

HR_TOKEN, UNION_TOKEN = "hr-token-0123456789", "union-token-0123456789"
CERTIFIED = "songji.assessment.SkillLevelCertified.v1"


def library_verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks library, as docs/integrators.md tells an integrator to use it."""
    try:
        StandardWebhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def integrator_verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The deprecated X-Songji-Signature, as docs/integrators.md describes it, written
    independently."""
    timestamp = headers["x-songji-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-songji-signature"])


async def test_webhook_gets_each_chosen_event_once_signed_after_retries(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SONGJI_ORGANISATIONS", json.dumps([
        {"org_id": "hr-luquan", "role": "hr_bureau", "token_sha256": hash_token(HR_TOKEN)},
        {"org_id": "union-luquan", "role": "union", "token_sha256": hash_token(UNION_TOKEN)},
    ]))
    fakes = Fakes(contacts={"w-1": {"name": "张三", "mobile": "13900001111"}}, hook_failures=2)
    hr = {"Authorization": f"Bearer {HR_TOKEN}"}
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, enrolment_url=base, enrolment_token=ENROLMENT_TOKEN,
        local_channel_path=tmp_path / "m.jsonl", delivery_backoff_seconds=0.01,
        delivery_backoff_max_seconds=0.05, sender_poll_seconds=0.1,
        webhook_secret_key=Fernet.generate_key().decode(), webhook_allow_local=True,
    ) as (_, api):
        request = {"url": f"{base}/hook", "event_types": [CERTIFIED],
                   "description": "provincial skills registry"}
        assert (await api.post("/webhooks", json=request)).status_code == 401
        forbidden = await api.post("/webhooks", json=request,
                                   headers={"Authorization": f"Bearer {UNION_TOKEN}"})
        assert forbidden.status_code == 403 and forbidden.json()["code"] == "wrong_role"
        unknown = await api.post("/webhooks", headers=hr, json={
            **request, "event_types": ["songji.assessment.Nope.v1"]})
        assert unknown.status_code == 422
        assert unknown.json()["unknown"] == ["songji.assessment.Nope.v1"]

        created = await api.post("/webhooks", json=request, headers=hr)
        assert created.status_code == 201, created.text
        webhook_id, secret = created.json()["webhook_id"], created.json()["secret"]
        listed = (await api.get("/webhooks", headers=hr)).json()
        assert [w["webhook_id"] for w in listed] == [webhook_id]
        assert "secret" not in listed[0] and secret not in json.dumps(listed)

        await publish(kafka_bootstrap, topic_prefix, registered("w-1", "male"), "w-1")
        cert = await publish(kafka_bootstrap, topic_prefix, ev.certified("w-1"), "cert-w-1")
        [record] = await read_topic(kafka_bootstrap, events_topic("assessment", topic_prefix),
                                    at_least=1)
        await produce(kafka_bootstrap, record.topic, record.value, key=record.key,
                      headers=list(record.headers))  # redelivered

        async def delivered() -> list:
            log = (await api.get(f"/webhooks/{webhook_id}/deliveries", headers=hr)).json()
            return log if log and log[0]["state"] == "delivered" else []
        [delivery] = await eventually(delivered)
        assert [a["outcome"] for a in delivery["attempt_log"]] == [
            "transient_error", "transient_error", "delivered"]
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 204]
        assert delivery["event_id"] == str(cert.id) and delivery["attempts"] == 3

        [(headers, body)] = fakes.hooks  # one success; WorkerRegistered was not chosen
        assert headers["content-type"] == "application/cloudevents+json; charset=utf-8"
        assert secret.startswith("whsec_") and library_verifies(secret, headers, body)
        assert not library_verifies("whsec_" + base64.b64encode(b"k" * 32).decode(), headers,
                                    body)
        assert not library_verifies(secret, headers, body.replace(b"w-1", b"w-9"))
        assert not library_verifies(secret, {**headers, "webhook-id": str(uuid.uuid4())}, body)
        # one id for every attempt of the delivery, each attempt signed at its own time
        assert [a["webhook-id"] for a in fakes.hook_attempts] == [delivery["delivery_id"]] * 3
        assert all(abs(int(a["webhook-timestamp"]) - time.time()) < 60
                   for a in fakes.hook_attempts)
        assert integrator_verifies(secret, headers, body)  # the deprecated header, still sent
        assert not integrator_verifies("whsec_someone_else", headers, body)
        assert not integrator_verifies(secret, headers, body.replace(b"w-1", b"w-9"))
        assert headers["x-songji-webhook"] == webhook_id
        assert headers["x-songji-delivery"] == delivery["delivery_id"]
        event = json.loads(body)
        assert event["specversion"] == "1.0" and event["id"] == str(cert.id)
        assert event["type"] == CERTIFIED and event["source"] == "/songji/assessment"
        assert event["subject"] == "cert-w-1" and event["correlationid"] == "corr-cert-w-1"
        assert event["datacontenttype"] == "application/json"
        assert event["data"] == ev.certified("w-1").model_dump(mode="json")

        # the secret is stored encrypted, not as given
        conn = await asyncpg.connect(database)
        try:
            sealed = await conn.fetchval("SELECT secret_sealed FROM webhooks")
        finally:
            await conn.close()
        assert secret.encode() not in bytes(sealed)

        # deleted: later events are not posted
        assert (await api.delete(f"/webhooks/{webhook_id}", headers=hr)).status_code == 204
        assert (await api.get(f"/webhooks/{webhook_id}", headers=hr)).status_code == 404
        await publish(kafka_bootstrap, topic_prefix, ev.certified("w-2"), "cert-w-2")

        async def consumed() -> bool:
            conn = await asyncpg.connect(database)
            try:
                return await conn.fetchval(
                    # the consumer that feeds the webhooks (notifications has an xAPI one too)
                    "SELECT count(*) FROM inbox WHERE event_type = $1 "
                    "AND consumer = 'notifications.workers'", CERTIFIED) == 2
            finally:
                await conn.close()
        await eventually(consumed)
        log = (await api.get(f"/webhooks/{webhook_id}/deliveries", headers=hr)).json()
        assert len(log) == 1 and len(fakes.hooks) == 1


async def test_a_receiver_refusing_with_4xx_is_failed_without_retries(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SONGJI_ORGANISATIONS", json.dumps([
        {"org_id": "hr-luquan", "role": "hr_bureau", "token_sha256": hash_token(HR_TOKEN)}]))
    fakes = Fakes(hook_failures=5, hook_status=400)
    hr = {"Authorization": f"Bearer {HR_TOKEN}"}
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, local_channel_path=tmp_path / "m.jsonl",
        delivery_backoff_seconds=0.01, sender_poll_seconds=0.1,
        webhook_secret_key=Fernet.generate_key().decode(), webhook_allow_local=True,
    ) as (_, api):
        created = await api.post("/webhooks", headers=hr, json={
            "url": f"{base}/hook", "event_types": ["songji.enrolment.WorkerRegistered.v1"]})
        webhook_id = created.json()["webhook_id"]
        await publish(kafka_bootstrap, topic_prefix, registered("w-7", "female"), "w-7")

        async def failed() -> list:
            log = (await api.get(f"/webhooks/{webhook_id}/deliveries", headers=hr)).json()
            return log if log and log[0]["state"] == "failed" else []
        [delivery] = await eventually(failed)
        assert [(a["outcome"], a["status_code"]) for a in delivery["attempt_log"]] == [
            ("permanent_error", 400)]
