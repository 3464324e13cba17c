"""Notifications on the real PostgreSQL and broker, against local SMS, SMTP and enrolment
stand-ins: retries and the delivery log, exactly one notice per event and recipient under
redelivery, contact windows, and notices that wait for facts from another topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.notifications.app import SPEC as NOTIFICATIONS
from services.notifications.domain.contact_window import ContactWindow, send_time
from services.notifications.domain.model import SHANGHAI
from shared.contracts.employment import FollowUpRecorded
from shared.contracts.enrolment import EnrolmentWithdrawn, WorkerRegistered
from shared.contracts.funding import PaymentInstructionIssued
from shared.eventsourcing.topics import events_topic
from tests.integration.notify_fakes import (
    ENROLMENT_TOKEN,
    Fakes,
    FakeSmtp,
    publish,
    serve_fakes,
)
from tests.support import eventually, produce, read_topic, running_service
from tests.unit.notifications import events as ev

pytestmark = pytest.mark.integration

NAME, MOBILE = "张秀英", "13988887777"


async def rows(dsn: str, sql: str, *args: object) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def settings(base: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"enrolment_url": base, "enrolment_token": ENROLMENT_TOKEN,
            "local_channel_path": tmp_path / "messages.jsonl", "delivery_backoff_seconds": 0.01,
            "delivery_backoff_max_seconds": 0.05, "sender_poll_seconds": 0.1, **extra}


def registered(worker_id: str, gender: str) -> WorkerRegistered:
    return WorkerRegistered(worker_id=worker_id, gender=gender, birth_year=1990)  # type: ignore[arg-type]


def local_messages(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "messages.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


async def test_sms_retries_log_every_attempt_and_redelivery_sends_once(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    fakes = Fakes(contacts={"w-1": {"name": NAME, "mobile": MOBILE}}, sms_failures=2)
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        **settings(base, tmp_path, worker_channel="sms", sms_gateway_url=f"{base}/sms"),
    ):
        await publish(kafka_bootstrap, topic_prefix, registered("w-1", "female"), "w-1")
        cert = await publish(kafka_bootstrap, topic_prefix, ev.certified("w-1"), "cert-w-1")
        # the very same record again: the broker redelivers
        [record] = [r for r in await read_topic(
            kafka_bootstrap, events_topic("assessment", topic_prefix), at_least=1)]
        await produce(kafka_bootstrap, record.topic, record.value, key=record.key,
                      headers=list(record.headers))

        async def all_finished() -> list[dict[str, Any]]:
            found = await rows(database, "SELECT * FROM notifications ORDER BY kind")
            done = len(found) == 3 and all(r["state"] == "sent" for r in found)
            return found if done else []
        notices = await all_finished() or await eventually(all_finished)

        assert [(n["kind"], n["recipient_id"]) for n in notices] == [
            ("certificate_issued", "w-1"), ("union_newly_certified", "trade_union"),
            ("womens_followup_certified", "womens_federation")]
        assert {n["source_event_id"] for n in notices} == {cert.id}

        # one SMS, after two refusals; its text has the name fetched at send time
        [sms] = fakes.sms
        worker_notice = notices[0]
        assert sms["to"] == MOBILE and NAME in sms["text"] and "YN-2025-000123" in sms["text"]
        assert sms["reference"] == str(worker_notice["notification_id"])
        log = await rows(database, "SELECT attempt, channel, outcome, error_code "
                                   "FROM delivery_attempts WHERE notification_id = $1 "
                                   "ORDER BY attempt_id", worker_notice["notification_id"])
        assert log == [
            {"attempt": 1, "channel": "sms", "outcome": "transient_error",
             "error_code": "gateway_status:503"},
            {"attempt": 2, "channel": "sms", "outcome": "transient_error",
             "error_code": "gateway_status:503"},
            {"attempt": 3, "channel": "sms", "outcome": "delivered", "error_code": None}]
        # the departments' notices went to the local channel, once each
        local = local_messages(tmp_path)
        assert sorted(m["to"] for m in local) == ["trade_union", "womens_federation"]

        # the public delivery log: one NotificationDelivered per notice, caused by the event
        events = await rows(database, "SELECT event_type, data, metadata FROM events "
                                      "ORDER BY position")
        assert [e["event_type"] for e in events] == [
            "songji.notifications.NotificationDelivered.v1"] * 3
        delivered = {e["data"]["kind"]: e for e in events}
        assert delivered["certificate_issued"]["data"]["attempts"] == 3
        assert delivered["certificate_issued"]["data"]["channel"] == "sms"
        assert delivered["certificate_issued"]["metadata"]["causation_id"] == str(cert.id)
        assert delivered["certificate_issued"]["metadata"]["correlation_id"] == "corr-cert-w-1"
        published = await read_topic(kafka_bootstrap, events_topic("notifications",
                                                                   topic_prefix), at_least=3)
        assert len(published) == 3

        # no personal data anywhere in notifications' own database
        dump = json.dumps(await rows(database, "SELECT * FROM notifications"), default=str)
        dump += json.dumps(await rows(database, "SELECT * FROM delivery_attempts"), default=str)
        dump += json.dumps(events, default=str)
        assert NAME not in dump and MOBILE not in dump


async def test_email_retries_a_4xx_and_fails_a_refused_mailbox_once(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    fakes = Fakes(contacts={"w-2": {"name": "马建国", "mobile": "13700001111"}})
    async with FakeSmtp(fail_data=1, refuse=frozenset({"union@closed.example"})) as smtp, \
            serve_fakes(fakes) as base, running_service(
                NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                **settings(base, tmp_path, department_channel="email",
                           smtp_port=smtp.port, smtp_sender="songji@luquan.example",
                           departments={"hr_bureau": {"email": "hr@luquan.example"},
                                        "trade_union": {"email": "union@closed.example"}})
            ) as (app, _):
        objection = await publish(kafka_bootstrap, topic_prefix, ev.objection(), "b-1")
        await publish(kafka_bootstrap, topic_prefix, registered("w-2", "male"), "w-2")
        await publish(kafka_bootstrap, topic_prefix, ev.certified("w-2"), "cert-w-2")

        async def settled() -> list[dict[str, Any]]:
            # a women's follow-up planned before his gender was known is kept as dropped
            found = await rows(database, "SELECT * FROM notifications WHERE state <> 'dropped' "
                                         "ORDER BY kind")
            return found if len(found) == 3 and all(
                r["state"] in ("sent", "failed") for r in found) else []
        notices = await eventually(settled)
        states = {n["kind"]: n["state"] for n in notices}
        assert states == {"certificate_issued": "sent", "hr_objection_raised": "sent",
                          "union_newly_certified": "failed"}  # a man: no women's notice

        [mail] = smtp.messages
        assert mail["To"] == "hr@luquan.example"
        assert mail["Subject"] == "公示期收到异议（紧急）"
        assert "未参加培训" in mail.get_content() and "b-1" in mail.get_content()
        hr = next(n for n in notices if n["kind"] == "hr_objection_raised")
        assert mail["Message-ID"] == f"<{hr['notification_id']}@songji>"
        assert hr["urgent"] and hr["source_event_id"] == objection.id
        hr_log = await rows(database, "SELECT outcome, error_code FROM delivery_attempts "
                                      "WHERE notification_id = $1 ORDER BY attempt_id",
                            hr["notification_id"])
        assert hr_log == [{"outcome": "transient_error", "error_code": "smtp_status:451"},
                          {"outcome": "delivered", "error_code": None}]

        union = next(n for n in notices if n["kind"] == "union_newly_certified")
        union_log = await rows(database, "SELECT outcome, error_code FROM delivery_attempts "
                                         "WHERE notification_id = $1", union["notification_id"])
        assert union_log == [{"outcome": "permanent_error",
                              "error_code": "smtp_recipient_refused:550"}]  # not retried
        [failed] = await rows(database, "SELECT data FROM events WHERE event_type = $1",
                              "songji.notifications.NotificationFailed.v1")
        assert failed["data"]["reason"] == "smtp_recipient_refused:550"
        assert failed["data"]["attempts"] == 1 and failed["data"]["channel"] == "email"

        # /metrics counts each notice's end once, by channel (after the commit that records it)
        async def counted() -> dict[str, float]:
            found = {outcome: app.state.metrics.registry.get_sample_value(
                "songji_notifications_total", {"channel": "email", "outcome": outcome}) or 0
                for outcome in ("sent", "failed")}
            return found if found == {"sent": 1, "failed": 1} else {}
        await eventually(counted)


async def test_a_notice_waits_out_an_enrolment_outage_longer_than_its_retries(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Enrolment restarting (the contact lookup fails) is not the notice's failure: with two
    delivery attempts allowed and six failed lookups, the notice is still sent, once."""
    fakes = Fakes(contacts={"w-8": {"name": NAME, "mobile": MOBILE}}, contact_failures=6)
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, **settings(base, tmp_path, delivery_attempts=2,
                                              dependency_retry_seconds=0.1),
    ):
        await publish(kafka_bootstrap, topic_prefix, ev.certified("w-8"), "cert-w-8")

        async def sent() -> list[dict[str, Any]]:
            return await rows(database, "SELECT state, attempts FROM notifications "
                                        "WHERE recipient_id = 'w-8' "
                                        "AND state IN ('sent', 'failed')")
        [row] = await eventually(sent)
        assert row == {"state": "sent", "attempts": 1}
        assert fakes.contact_lookups == 7
        assert [m["to"] for m in local_messages(tmp_path) if m["to"] == "w-8"] == ["w-8"]
        outcomes = await rows(database, "SELECT a.outcome, a.error_code FROM delivery_attempts a "
                                        "JOIN notifications n USING (notification_id) "
                                        "WHERE n.recipient_id = 'w-8' ORDER BY a.attempt_id")
        assert [o["outcome"] for o in outcomes] == ["transient_error"] * 6 + ["delivered"]
        assert {o["error_code"] for o in outcomes[:6]} == {"enrolment_status:503"}


async def test_a_notice_whose_sender_died_after_recording_the_delivery_is_not_sent_again(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """The sender was killed after the channel took the message and the log recorded it, but
    before it closed the claim: whoever takes the claim over closes it, without resending."""
    fakes = Fakes(contacts={"w-6": {"name": NAME, "mobile": MOBILE}})
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, **settings(base, tmp_path, claim_timeout_seconds=0.2),
    ):
        conn = await asyncpg.connect(database)
        # One transaction: the claim is stale at once, so a sender polling between two
        # separate inserts would take it over before the delivery is recorded, and send.
        try:
            async with conn.transaction():
                notification_id = await conn.fetchval(
                    "INSERT INTO notifications (notification_id, source_event_id, "
                    "source_event_type, correlation_id, recipient_kind, recipient_id, kind, "
                    "params, not_before, state, claim_token, claimed_at, attempts) VALUES "
                    "(gen_random_uuid(), gen_random_uuid(), "
                    "'songji.assessment.SkillLevelCertified.v1', 'c-6', 'worker', 'w-6', "
                    "'certificate_issued', '{}', now(), 'claimed', gen_random_uuid(), "
                    "now() - interval '1 minute', 1) RETURNING notification_id")
                await conn.execute(
                    "INSERT INTO delivery_attempts (notification_id, attempt, channel, outcome, "
                    "started_at, finished_at) VALUES ($1, 1, 'local', 'delivered', now(), now())",
                    notification_id)
        finally:
            await conn.close()

        async def closed() -> list[dict[str, Any]]:
            return await rows(database, "SELECT state FROM notifications WHERE "
                                        "recipient_id = 'w-6' AND state = 'sent'")
        await eventually(closed)
        attempts = await rows(database, "SELECT outcome FROM delivery_attempts "
                                        "WHERE notification_id = $1", notification_id)
        assert attempts == [{"outcome": "delivered"}]
        assert not [m for m in local_messages(tmp_path) if m["to"] == "w-6"]
        assert fakes.contact_lookups == 0
        delivered = await rows(database, "SELECT data FROM events WHERE event_type = "
                                         "'songji.notifications.NotificationDelivered.v1'")
        assert [d["data"]["attempts"] for d in delivered] == [1]


async def test_a_night_shift_workers_window_defers_a_non_urgent_message(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    local_now = datetime.now(SHANGHAI)
    opens = (local_now + timedelta(hours=3)).strftime("%H:%M")
    closes = (local_now + timedelta(hours=6)).strftime("%H:%M")
    fakes = Fakes(contacts={"w-3": {"name": "阿依古丽", "mobile": "13600002222",
                                    "contact_window": f"{opens}-{closes}"}})
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, **settings(base, tmp_path),
    ):
        await publish(kafka_bootstrap, topic_prefix, ev.certified("w-3"), "cert-w-3")

        async def deferred() -> list[dict[str, Any]]:
            # the sender logs the deferred attempt, then hands the claim back: wait for both
            return await rows(database, "SELECT n.not_before, n.state, n.attempts, a.outcome "
                                        "FROM notifications n JOIN delivery_attempts a "
                                        "USING (notification_id) WHERE n.recipient_id = 'w-3' "
                                        "AND n.claim_token IS NULL")
        [row] = await eventually(deferred)
        expected = send_time(datetime.now(UTC), ContactWindow.parse(f"{opens}-{closes}"),
                             urgent=False)
        assert row["state"] == "pending" and row["outcome"] == "deferred"
        assert row["attempts"] == 0  # waiting for the window is not a failed attempt
        assert row["not_before"] == expected
        assert not [m for m in local_messages(tmp_path) if m["to"] == "w-3"]


async def test_notices_wait_for_facts_from_other_topics_and_withdrawal_cancels(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    fakes = Fakes(contacts={w: {"name": f"工人{w}", "mobile": "13500003333"}
                            for w in ("w-1", "w-4", "w-5")})
    soon = datetime.now(SHANGHAI).date() + timedelta(days=10)
    night = ev.scheduled("night", [ev.session(1, soon), ev.session(2, soon + timedelta(1))])
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, **settings(base, tmp_path),
    ):
        # enrolments arrive before the registrations and before the class's schedule
        await publish(kafka_bootstrap, topic_prefix, ev.enrolled("w-4"), "e-w-4")
        await publish(kafka_bootstrap, topic_prefix, ev.enrolled("w-5"), "e-w-5")

        async def awaiting() -> bool:
            return len(await rows(database, "SELECT 1 FROM notifications "
                                            "WHERE state = 'awaiting_gender'")) == 2
        await eventually(awaiting)

        await publish(kafka_bootstrap, topic_prefix, night, "c-elec")
        await publish(kafka_bootstrap, topic_prefix, registered("w-4", "female"), "w-4")
        await publish(kafka_bootstrap, topic_prefix, registered("w-5", "male"), "w-5")

        async def schedules_sent() -> bool:
            return len(await rows(database, "SELECT 1 FROM notifications WHERE "
                                            "kind = 'class_schedule' AND state = 'sent'")) == 2
        await eventually(schedules_sent)
        await publish(kafka_bootstrap, topic_prefix, EnrolmentWithdrawn(
            enrolment_id="e-w-5", worker_id="w-5", class_id="c-elec", reason="回乡",
            withdrawn_on=soon - timedelta(days=5)), "e-w-5")
        # the bank's confirmation overtakes its instruction (they come on different streams)
        await publish(kafka_bootstrap, topic_prefix, ev.confirmed(failed=["l3"]), "pi-1")
        await publish(kafka_bootstrap, topic_prefix, PaymentInstructionIssued(
            instruction_id="pi-1", batch_id="b-1", items=ev.items(), total_fen=338050,
            file_sha256="0" * 64, issued_on=soon), "pi-1")

        async def settled() -> dict[tuple[str, str], str]:
            found = await rows(database, "SELECT recipient_id, kind, ref, state "
                                         "FROM notifications")
            states = {(r["recipient_id"], r["kind"] + (":" + r["ref"] if r["ref"] else "")):
                      r["state"] for r in found}
            busy = any(s in ("awaiting_gender", "claimed") or (
                s == "pending" and "session_reminder" not in kind)
                for (_, kind), s in states.items())
            cancelled = sum(s == "cancelled" for s in states.values())
            return states if len(states) == 11 and cancelled == 2 and not busy else {}
        states = await eventually(settled)
        assert states == {
            ("w-4", "enrolment_confirmed"): "sent",
            ("w-5", "enrolment_confirmed"): "sent",
            ("womens_federation", "womens_followup_enrolled:w-4"): "sent",
            ("womens_federation", "womens_followup_enrolled:w-5"): "dropped",
            ("w-4", "class_schedule:c-elec"): "sent",
            ("w-5", "class_schedule:c-elec"): "sent",
            # reminders wait for noon the day before; a withdrawal cancels them
            ("w-4", "session_reminder:c-elec/s1"): "pending",
            ("w-4", "session_reminder:c-elec/s2"): "pending",
            ("w-5", "session_reminder:c-elec/s1"): "cancelled",
            ("w-5", "session_reminder:c-elec/s2"): "cancelled",
            ("w-1", "subsidy_paid"): "sent",  # w-2's only line was rejected by the bank
        }
        [reminder] = await rows(database, "SELECT not_before, expires_at FROM notifications "
                                          "WHERE recipient_id = 'w-4' AND ref = 'c-elec/s1'")
        assert reminder["not_before"] == datetime.combine(
            soon - timedelta(days=1), datetime.min.time().replace(hour=12), SHANGHAI)
        paid = [m for m in local_messages(tmp_path) if m["to"] == "w-1"]
        assert len(paid) == 1 and "1,000.50" in paid[0]["body"] and "工人w-1" in paid[0]["body"]
        assert paid[0]["address"] == "135****3333"


async def test_a_referral_and_a_placement_tell_the_worker_by_sms_and_leaving_cancels_the_rest(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    fakes = Fakes(contacts={"w-1": {"name": NAME, "mobile": MOBILE}})
    started = datetime.now(SHANGHAI).date() - timedelta(days=40)  # its 1-month follow-up is due
    async with serve_fakes(fakes) as base, running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        **settings(base, tmp_path, worker_channel="sms", sms_gateway_url=f"{base}/sms"),
    ):
        await publish(kafka_bootstrap, topic_prefix, registered("w-1", "female"), "w-1")
        await publish(kafka_bootstrap, topic_prefix, ev.referred("w-1"), "vacancy-v-1")
        await publish(kafka_bootstrap, topic_prefix, ev.placed("w-1", starts_on=started),
                      "vacancy-v-1")

        async def states() -> dict[tuple[str, str], str]:
            found = await rows(database, "SELECT kind, ref, state FROM notifications")
            return {(r["kind"], r["ref"]): r["state"] for r in found}

        async def due_ones_sent() -> dict[tuple[str, str], str]:
            now = await states()
            due = [k for k in now if not k[1].endswith(("/3", "/6"))]
            return now if len(now) == 9 and all(now[k] == "sent" for k in due) else {}

        await eventually(due_ones_sent)
        assert len(fakes.sms) == 2, fakes.sms  # the referral and the 1-month reminder
        texts = sorted(m["text"] for m in fakes.sms)
        assert any("驿站已按您的同意" in t and "阜康某电力安装公司" in t and NAME in t
                   for t in texts), texts
        assert any("已满1个月" in t for t in texts), texts

        await publish(kafka_bootstrap, topic_prefix, FollowUpRecorded(
            referral_id="r-w-1", vacancy_id="v-1", worker_id="w-1", month=3,
            still_employed=False, recorded_on=started + timedelta(days=95)), "vacancy-v-1")

        async def left() -> dict[tuple[str, str], str]:
            now = await states()
            return now if now[("follow_up_reminder", "r-w-1/6")] == "cancelled" else {}

        final = await eventually(left)
        assert {k: v for k, v in final.items() if k[0] in (
            "follow_up_reminder", "station_follow_up_due")} == {
            ("follow_up_reminder", "r-w-1/1"): "sent", ("station_follow_up_due", "r-w-1/1"): "sent",
            ("follow_up_reminder", "r-w-1/3"): "cancelled",
            ("station_follow_up_due", "r-w-1/3"): "cancelled",
            ("follow_up_reminder", "r-w-1/6"): "cancelled",
            ("station_follow_up_due", "r-w-1/6"): "cancelled"}
        assert final[("union_newly_placed", "r-w-1")] == "sent"
        assert final[("womens_followup_placed", "r-w-1")] == "sent"
