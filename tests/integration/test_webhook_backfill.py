"""Backfill on the real servers: a new webhook's history and a range re-requested after an
outage, read from the topics, bounded, paced, in order per stream, only genuine events, and
verified on arrival by the Standard Webhooks library with the integrator's own secret."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from standardwebhooks import Webhook as StandardWebhook

from services.notifications.app import SPEC as NOTIFICATIONS
from shared.auth.tokens import hash_token
from shared.contracts import Envelope, Event
from shared.contracts.assessment import CertificationRevoked
from shared.eventsourcing.topics import events_topic
from tests.integration.notify_fakes import Fakes, serve_fakes
from tests.integration.test_notifications import registered
from tests.support import TEST_PRIVATE_KEYS, eventually, fetch, produce, running_service, signed
from tests.unit.notifications import events as ev

pytestmark = pytest.mark.integration

HR_TOKEN = "hr-token-0123456789"
HR = {"Authorization": f"Bearer {HR_TOKEN}"}
CERTIFIED = "songji.assessment.SkillLevelCertified.v1"
REVOKED = "songji.assessment.CertificationRevoked.v1"


def revoked(worker_id: str) -> CertificationRevoked:
    return CertificationRevoked(
        certificate_id=f"cert-{worker_id}", certificate_number="YN-2025-000123",
        worker_id=worker_id, occupation_code="electrician", level=5, class_id="c-elec",
        reason="certificate issued in error", revoked_on=date(2025, 9, 1))


async def publish(bootstrap: str, prefix: str, event: Event, subject: str, *, position: int,
                  stream_version: int, time: datetime, forged: bool = False) -> Envelope:
    """An event on its service's topic as its relay publishes it, with its store position; or
    ``forged``: signed with another service's key."""
    envelope = Envelope(id=uuid.uuid4(), source=f"/songji/{event.service}",
                        type=event.ce_type(), subject=subject, time=time,
                        data=event.model_dump(mode="json"), schema_version=event.schema_version,
                        correlation_id=f"corr-{subject}", stream_version=stream_version,
                        position=position)
    value, headers = signed(envelope, key=TEST_PRIVATE_KEYS["training"] if forged else None)
    await produce(bootstrap, events_topic(event.service, prefix), value, key=subject.encode(),
                  headers=headers)
    return envelope


async def test_backfill_history_then_a_range_again_after_an_outage(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SONGJI_ORGANISATIONS", json.dumps([
        {"org_id": "hr-luquan", "role": "hr_bureau", "token_sha256": hash_token(HR_TOKEN)}]))
    now = datetime.now(UTC)
    history = [  # (event, stream, position, stream version, time)
        (ev.certified("w-1"), "cert-w-1", 1, 1, now - timedelta(hours=3)),
        (ev.certified("w-2"), "cert-w-2", 2, 1, now - timedelta(hours=3)),
        (revoked("w-1"), "cert-w-1", 3, 2, now - timedelta(hours=2)),
        (ev.certified("w-3"), "cert-w-3", 4, 1, now - timedelta(hours=1)),
        (revoked("w-3"), "cert-w-3", 5, 2, now - timedelta(hours=1)),
    ]
    published = [await publish(kafka_bootstrap, topic_prefix, e, s, position=p,
                               stream_version=v, time=t) for e, s, p, v, t in history]
    await publish(kafka_bootstrap, topic_prefix, ev.certified("w-6"), "cert-w-6", position=6,
                  stream_version=1, time=now - timedelta(minutes=30), forged=True)
    await publish(kafka_bootstrap, topic_prefix, registered("w-1", "male"), "w-1",
                  position=1, stream_version=1, time=now - timedelta(hours=3))  # not chosen

    # The certificate's first attempt fails, and a retry waits half a second: without the
    # order kept per stream, cert-w-1's revocation (position 3, due 0.1 s after it) would
    # arrive before its certificate.
    fakes = Fakes(hook_fail_once={str(published[0].id)})
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()  # the integrator's
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, local_channel_path=tmp_path / "m.jsonl",
        delivery_attempts=2, delivery_backoff_seconds=0.5, delivery_backoff_max_seconds=0.5,
        sender_poll_seconds=0.1, webhook_backfill_max_events=3, webhook_backfill_rate=20,
        webhook_secret_key=Fernet.generate_key().decode(), webhook_allow_local=True,
    ) as (_, api):
        async def consumed() -> bool:  # before the webhook exists: none is delivered live
            rows = await fetch(database, "SELECT count(*) AS n FROM inbox WHERE consumer = "
                               "'notifications.workers' AND source <> '/songji/notifications'")
            return rows[0]["n"] == len(history) + 1
        await eventually(consumed)
        refused = await api.post("/webhooks", headers=HR, json={
            "url": f"{base}/hook", "event_types": [CERTIFIED], "backfill": {}})
        assert refused.status_code == 422
        created = await api.post("/webhooks", headers=HR, json={
            "url": f"{base}/hook", "event_types": [CERTIFIED, REVOKED], "secret": secret,
            "backfill": {"since_positions": {"assessment": 0}}})
        assert created.status_code == 201, created.text
        webhook_id = created.json()["webhook_id"]
        assert created.json()["secret"] == secret
        first = created.json()["backfill"]["backfill_id"]

        async def finished(backfill_id: str) -> dict:
            got = (await api.get(f"/webhooks/{webhook_id}/backfill/{backfill_id}",
                                 headers=HR)).json()
            settled = got["state"] in ("done", "limited") and set(got["deliveries"]) <= {
                "delivered", "failed"}
            return got if settled else {}

        # bounded: the three lowest positions, and where the next request goes on
        progress = await eventually(lambda: finished(first))
        assert progress["state"] == "limited" and progress["events_queued"] == 3
        assert progress["next_since_positions"] == {"assessment": 3}
        assert progress["records_refused"] == 1  # the forged one: never queued
        assert progress["deliveries"] == {"delivered": 3}
        arrived = [json.loads(body) for _, body in fakes.hooks]
        assert [e["id"] for e in arrived] == [str(e.id) for e in published[1::-1]] + [
            str(published[2].id)]  # cert-w-2, then cert-w-1 in order, retry and all
        for headers, body in fakes.hooks:
            StandardWebhook(secret).verify(body, headers)
        log = (await api.get(f"/webhooks/{webhook_id}/deliveries", headers=HR)).json()
        assert {d["backfill_id"] for d in log} == {first}
        assert {d["delivery_id"] for d in log} == {h["webhook-id"] for h, _ in fakes.hooks}
        # paced: scheduled 1/20 s apart (the first, retried, was scheduled again)
        paced = await fetch(database, "SELECT not_before FROM webhook_deliveries WHERE "
                            "backfill_id = $1 ORDER BY backfill_seq", uuid.UUID(first))
        gap = paced[2]["not_before"] - paced[1]["not_before"]
        assert gap.total_seconds() == pytest.approx(0.05, abs=0.001)

        # going on from there: the rest, without the forged one
        going_on = await api.post(f"/webhooks/{webhook_id}/backfill", headers=HR,
                                  json={"since_positions": progress["next_since_positions"]})
        assert going_on.status_code == 202, going_on.text
        assert going_on.headers["location"] == \
            f"/webhooks/{webhook_id}/backfill/{going_on.json()['backfill_id']}"
        progress = await eventually(lambda: finished(going_on.json()["backfill_id"]))
        assert (progress["state"], progress["events_queued"]) == ("done", 2)
        assert [json.loads(b)["id"] for _, b in fakes.hooks][3:] == [
            str(e.id) for e in published[3:]]

        # an outage: a live event fails; re-requested, it is delivered under the same id
        fakes.hook_failures = 100
        live = await publish(kafka_bootstrap, topic_prefix, ev.certified("w-7"), "cert-w-7",
                             position=7, stream_version=1, time=datetime.now(UTC))

        async def failed() -> list:
            rows = await fetch(database, "SELECT delivery_id FROM webhook_deliveries WHERE "
                               "event_id = $1 AND state = 'failed'", live.id)
            return [str(r["delivery_id"]) for r in rows]
        [delivery_id] = await eventually(failed)
        fakes.hook_failures = 0
        again = await api.post(f"/webhooks/{webhook_id}/backfill", headers=HR, json={
            "since_time": (now - timedelta(minutes=90)).isoformat()})
        progress = await eventually(lambda: finished(again.json()["backfill_id"]))
        assert (progress["events_queued"], progress["events_already"]) == (1, 2)
        headers, body = fakes.hooks[-1]
        assert json.loads(body)["id"] == str(live.id) and headers["webhook-id"] == delivery_id
        StandardWebhook(secret).verify(body, headers)

        # ``redeliver`` sends delivered events again; a range is bounded at both ends
        again = await api.post(f"/webhooks/{webhook_id}/backfill", headers=HR, json={
            "since_positions": {"assessment": 3}, "until_positions": {"assessment": 4},
            "redeliver": True})
        progress = await eventually(lambda: finished(again.json()["backfill_id"]))
        assert (progress["events_queued"], progress["events_already"]) == (1, 0)
        assert json.loads(fakes.hooks[-1][1])["id"] == str(published[3].id)
        assert len(fakes.hooks) == 7

        for wrong in ({"since_positions": {"nowhere": 1}}, {},
                      {"since_time": now.isoformat(), "until_time": now.isoformat()}):
            answer = await api.post(f"/webhooks/{webhook_id}/backfill", headers=HR, json=wrong)
            assert answer.status_code == 422, wrong
        unknown = await api.post(f"/webhooks/{uuid.uuid4()}/backfill", headers=HR,
                                 json={"since_positions": {"assessment": 0}})
        assert unknown.status_code == 404
