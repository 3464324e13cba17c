"""Enrolment and notifications in-process on the real servers: inbox, dead letters, restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest

from services.enrolment.app import SPEC as ENROLMENT
from services.enrolment.domain.national_id import check_digit
from services.notifications.app import SPEC as NOTIFICATIONS
from shared.eventsourcing.topics import dead_letter_topic, events_topic
from shared.infra.kafka import EmbeddedKafka
from tests.orgs import FUKANG, auth
from tests.support import (
    eventually,
    header,
    produce,
    read_topic,
    running_service,
    signed_headers,
)

pytestmark = pytest.mark.integration

STATION = auth("station-fukang")
HR = auth("hr")


def national_id(serial: int) -> str:
    first17 = f"532128199001{(serial % 28) + 1:02d}{serial % 1000:03d}"
    return first17 + check_digit(first17)


def registration(serial: int) -> dict[str, object]:
    return {"name": f"工人{serial}", "national_id": national_id(serial),
            "mobile": f"139{serial:08d}", "hometown_county": "禄劝彝族苗族自治县",
            "hometown_township": "翠华镇", "household_county": "禄劝彝族苗族自治县",
            "work_site": FUKANG, "employer": "阜康某农业公司"}


async def register(client: httpx.AsyncClient, serial: int) -> str:
    response = await client.post("/workers", json=registration(serial), headers=STATION)
    assert response.status_code == 201, response.text
    return response.json()["worker_id"]


async def count(dsn: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def workers_dead_letters(bootstrap: str, prefix: str, count: int) -> list:
    """The dead letters of notifications' ``workers`` consumer (its ``xapi`` consumer reads
    enrolment's topic too and dead-letters the same messages), once ``count`` are there."""
    async def found() -> list:
        dead = await read_topic(bootstrap, dead_letter_topic(prefix), at_least=2 * count,
                                seconds=5)
        mine = [r for r in dead if header(r, "dlq_consumer") == "notifications.workers"]
        return mine if len(mine) >= count else []
    return await eventually(found, seconds=30)


async def test_register_publish_consume_and_redelivery_has_one_effect(
    new_database: Callable[[], Awaitable[str]], kafka_bootstrap: str, topic_prefix: str
) -> None:
    enrol_db, notify_db = await new_database(), await new_database()
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    async with (running_service(ENROLMENT, database_url=enrol_db, **common) as (_, enrol),
                running_service(NOTIFICATIONS, database_url=notify_db, **common) as (_, notes)):
        response = await enrol.post("/workers", json=registration(1),
                                    headers={"X-Correlation-ID": "journey-1",
                                             **auth("station-fukang")})
        assert response.status_code == 201, response.text
        worker_id = response.json()["worker_id"]

        async def known() -> bool:
            return (await notes.get(f"/workers/{worker_id}", headers=HR)).status_code == 200
        await eventually(known)

        topic = events_topic("enrolment", topic_prefix)
        [record] = await read_topic(kafka_bootstrap, topic, at_least=1)
        assert header(record, "ce_correlationid") == "journey-1"
        payload = json.loads(record.value)
        assert payload == {"worker_id": worker_id, "gender": "male", "birth_year": 1990,
                           "hometown_county": "禄劝彝族苗族自治县", "work_site": FUKANG}
        assert "工人1" not in record.value.decode() and national_id(1) not in str(record.headers)

        # The very same record delivered again: the inbox skips it.
        await produce(kafka_bootstrap, topic, record.value, key=record.key,
                      headers=list(record.headers))
        second = await register(enrol, 2)

        async def second_known() -> bool:
            return (await notes.get(f"/workers/{second}", headers=HR)).status_code == 200
        await eventually(second_known)
        assert await count(notify_db, "SELECT count(*) FROM known_workers") == 2
        assert await count(notify_db, "SELECT count(*) FROM inbox") == 2


async def test_malformed_message_goes_to_dead_letter_and_the_next_is_processed(
    new_database: Callable[[], Awaitable[str]], kafka_bootstrap: str, topic_prefix: str
) -> None:
    enrol_db, notify_db = await new_database(), await new_database()
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    topic = events_topic("enrolment", topic_prefix)
    async with (running_service(ENROLMENT, database_url=enrol_db, **common) as (_, enrol),
                running_service(NOTIFICATIONS, database_url=notify_db, **common) as (_, notes)):
        await produce(kafka_bootstrap, topic, b"{not json", key=b"worker-x",
                      headers=[("ce_specversion", b"1.0"), ("ce_id", b"bad-1")])
        broken = b'{"worker_id": "w"}'  # signed by enrolment, but it breaks the contract
        await produce(kafka_bootstrap, topic, broken, key=b"worker-y", headers=signed_headers(
            "enrolment", [
                ("ce_specversion", b"1.0"), ("ce_id", b"9b8e1f3a-0000-4000-8000-000000000001"),
                ("ce_source", b"/songji/enrolment"),
                ("ce_type", b"songji.enrolment.WorkerRegistered.v1"),
                ("ce_subject", b"worker-y"), ("ce_time", b"2025-07-24T08:00:00+08:00")],
            broken))
        worker_id = await register(enrol, 3)

        async def known() -> bool:
            return (await notes.get(f"/workers/{worker_id}", headers=HR)).status_code == 200
        await eventually(known)

        dead = await workers_dead_letters(kafka_bootstrap, topic_prefix, 2)
        reasons = {header(r, "ce_id"): header(r, "dlq_reason") for r in dead}
        assert "missing CloudEvents headers" in reasons["bad-1"]
        assert "breaks its contract" in reasons["9b8e1f3a-0000-4000-8000-000000000001"]
        for record in dead:
            assert header(record, "dlq_origin_topic") == topic
            assert header(record, "dlq_consumer") == "notifications.workers"
            assert header(record, "dlq_origin_offset") is not None
        assert await count(notify_db, "SELECT count(*) FROM known_workers") == 1


async def test_wrong_check_digit_is_422_naming_the_field_and_nothing_is_stored(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, enrol):
        body = registration(4)
        body["national_id"] = body["national_id"][:17] + (
            "0" if body["national_id"][17] != "0" else "1")
        response = await enrol.post("/workers", json=body, headers=STATION)
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "national_id"]
        assert "check digit" in error["msg"]
        assert body["national_id"] not in response.text  # the number is not echoed back
        await asyncio.sleep(0.5)
        assert await count(database, "SELECT count(*) FROM events") == 0
        assert await count(database, "SELECT count(*) FROM worker_identities") == 0
    assert await read_topic(kafka_bootstrap, events_topic("enrolment", topic_prefix),
                            at_least=1, seconds=1.5) == []


async def test_second_registration_of_an_id_is_409_with_the_existing_worker(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, enrol):
        first = await register(enrol, 5)
        again = await enrol.post("/workers", json=registration(5), headers=STATION)
        assert again.status_code == 409
        assert again.json() == {"code": "worker_already_registered", "worker_id": first,
                                "message": again.json()["message"]}
        assert await count(database, "SELECT count(*) FROM events") == 1
        sealed = await count(database, "SELECT count(*) FROM worker_identities "
                                       "WHERE position($1 in convert_from(sealed, 'UTF8')) > 0",
                             national_id(5))
        assert sealed == 0, "the ID number is stored in clear"


async def test_broker_restarted_empty_each_worker_recorded_exactly_once(
    new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    enrol_db, notify_db = await new_database(), await new_database()
    with EmbeddedKafka() as broker:
        common = dict(bootstrap=broker.bootstrap_servers, topic_prefix=topic_prefix)
        async with (running_service(ENROLMENT, database_url=enrol_db, **common) as (_, enrol),
                    running_service(NOTIFICATIONS, database_url=notify_db, **common) as (_, notes)):
            ids = [await register(enrol, 10 + i)
                   for i in range(5)]

            async def all_known() -> bool:
                return len((await notes.get("/workers", headers=HR)).json()) == 5
            await eventually(all_known)

            broker.restart_empty()
            ids += [await register(enrol, 20 + i)
                    for i in range(3)]

            async def eight_known() -> bool:
                return len((await notes.get("/workers", headers=HR)).json()) == 8
            await eventually(eight_known, seconds=60)
            # the relay republished all eight; the inbox kept one effect each
            records = await read_topic(broker.bootstrap_servers,
                                       events_topic("enrolment", topic_prefix), at_least=8)
            assert {json.loads(r.value)["worker_id"] for r in records} == set(ids)
            await asyncio.sleep(1.0)
            workers = (await notes.get("/workers", headers=HR)).json()
            assert sorted(w["worker_id"] for w in workers) == sorted(ids)
            assert await count(notify_db, "SELECT count(*) FROM inbox") == 8


async def test_contact_details_only_for_the_notifications_service(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, enrol):
        body = {**registration(30), "contact_window": "09:00-18:00", "preferred_language": "en"}
        created = await enrol.post("/workers", json=body, headers=STATION)
        worker_id = created.json()["worker_id"]
        contact = await enrol.get(f"/workers/{worker_id}/contact",
                                  headers=auth("notifications-service"))
        assert contact.status_code == 200, contact.text
        assert contact.json() == {"worker_id": worker_id, "name": "工人30",
                                  "mobile": body["mobile"], "preferred_language": "en",
                                  "contact_window": "09:00-18:00"}
        for org in ("hr", "station-fukang", "auditor"):
            refused = await enrol.get(f"/workers/{worker_id}/contact", headers=auth(org))
            assert refused.status_code == 403, org
        unknown = await enrol.get("/workers/nobody/contact", headers=auth("notifications-service"))
        assert unknown.status_code == 404
        bad_window = await enrol.post("/workers", json={**registration(31),
                                                        "contact_window": "9-18"},
                                      headers=STATION)
        assert bad_window.status_code == 422
        assert bad_window.json()["detail"][0]["loc"] == ["body", "contact_window"]


async def test_headers_that_cannot_be_read_go_to_dead_letter_and_the_next_is_processed(
    new_database: Callable[[], Awaitable[str]], kafka_bootstrap: str, topic_prefix: str
) -> None:
    """A header with no value, or with bytes that are not UTF-8, is a message no consumer can
    read: it goes to the dead-letter topic with its reason, and the consumer carries on."""
    enrol_db, notify_db = await new_database(), await new_database()
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    topic = events_topic("enrolment", topic_prefix)
    good = [("ce_specversion", b"1.0"), ("ce_source", b"/songji/enrolment"),
            ("ce_type", b"songji.enrolment.WorkerRegistered.v1"),
            ("ce_subject", b"worker-z"), ("ce_time", b"2025-07-24T08:00:00+08:00")]
    body = b'{"worker_id": "worker-z", "gender": "male", "birth_year": 1990}'
    async with (running_service(ENROLMENT, database_url=enrol_db, **common) as (_, enrol),
                running_service(NOTIFICATIONS, database_url=notify_db, **common) as (_, notes)):
        await produce(kafka_bootstrap, topic, body, key=b"worker-z", headers=[
            *good, ("ce_id", b"9b8e1f3a-0000-4000-8000-000000000002"),
            ("ce_actoruser", None)])  # type: ignore[list-item]
        await produce(kafka_bootstrap, topic, body, key=b"worker-z", headers=[
            *good, ("ce_id", b"9b8e1f3a-0000-4000-8000-000000000003"),
            ("ce_actoruser", "站点".encode("gb18030"))])
        worker_id = await register(enrol, 4)

        async def known() -> bool:
            return (await notes.get(f"/workers/{worker_id}", headers=HR)).status_code == 200
        await eventually(known)

        dead = await workers_dead_letters(kafka_bootstrap, topic_prefix, 2)
        reasons = {header(r, "ce_id"): header(r, "dlq_reason") for r in dead}
        assert reasons.keys() == {"9b8e1f3a-0000-4000-8000-000000000002",
                                  "9b8e1f3a-0000-4000-8000-000000000003"}
        assert "ce_actoruser has no value" in reasons["9b8e1f3a-0000-4000-8000-000000000002"]
        assert "ce_actoruser is not UTF-8" in reasons["9b8e1f3a-0000-4000-8000-000000000003"]
        for record in dead:
            assert header(record, "dlq_consumer") == "notifications.workers"
            assert record.value == body
        assert await count(notify_db, "SELECT count(*) FROM known_workers") == 1
