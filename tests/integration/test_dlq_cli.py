"""`songji dlq`: an operator lists, shows and replays dead letters, and re-drives the relay's
quarantine, on the real servers."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from services.enrolment.app import SPEC as ENROLMENT
from services.notifications.app import SPEC as NOTIFICATIONS
from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing import quarantine
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import dead_letter_topic, events_topic
from tests.integration.test_consumer_outage import known_workers
from tests.integration.test_skeleton_services import register
from tests.support import eventually, read_topic, running_service, songji

pytestmark = pytest.mark.integration


async def execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_a_dead_letter_is_listed_shown_and_replayed_to_the_consumer_that_failed(
    new_database: Callable[[], Awaitable[str]], kafka_bootstrap: str, topic_prefix: str,
    tmp_path: Path,
) -> None:
    enrol_db, notify_db = await new_database(), await new_database()
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SONGJI_TOPIC_PREFIX": topic_prefix,
           "SONGJI_STATE_DIR": str(tmp_path)}
    async with (running_service(ENROLMENT, database_url=enrol_db, **common) as (_, enrol),
                running_service(NOTIFICATIONS, database_url=notify_db, **common)):
        first = await register(enrol, 51)

        async def first_known() -> bool:
            return first in await known_workers(notify_db)
        await eventually(first_known)

        # A fault of the consumer's own (not the infrastructure's): its table is missing, so
        # the handler fails every attempt and the event is dead-lettered.
        await execute(notify_db, "ALTER TABLE known_workers RENAME TO known_workers_away")
        second = await register(enrol, 52)
        [letter] = await read_topic(kafka_bootstrap, dead_letter_topic(topic_prefix),
                                    at_least=1)
        ref = f"{letter.partition}:{letter.offset}"
        await execute(notify_db, "ALTER TABLE known_workers_away RENAME TO known_workers")

        code, listed = await songji("dlq", "list", env=env)
        assert code == 0, listed
        assert "1 dead letter(s)" in listed and ref in listed
        assert "notifications.workers" in listed
        assert events_topic("enrolment", topic_prefix) in listed
        assert "songji.enrolment.WorkerRegistered.v1" in listed
        assert "UndefinedTable" in listed

        code, filtered = await songji("dlq", "list", "--consumer", "training.nobody", env=env)
        assert code == 0 and "0 dead letter(s)" in filtered, filtered

        code, shown = await songji("dlq", "show", ref, env=env)
        assert code == 0, shown
        assert "dlq_reason:" in shown and "ce_id:" in shown
        body = shown.split("bytes):\n", 1)[1].strip()
        assert json.loads(body)["worker_id"] == second

        code, replayed = await songji("dlq", "replay", ref, env=env)
        assert code == 0, replayed
        assert "1 record(s) replayed" in replayed

        async def second_known() -> bool:
            return second in await known_workers(notify_db)
        await eventually(second_known)
        still = await read_topic(kafka_bootstrap, dead_letter_topic(topic_prefix), at_least=2,
                                 seconds=2)
        assert len(still) == 1, "the replayed record was dead-lettered again"


async def test_quarantined_events_are_listed_and_their_re_drive_asked(
    store: EventStore, database: str, topic_prefix: str, tmp_path: Path,
) -> None:
    await store.append("w-q", 0, [WorkerRegistered(worker_id="w-q", gender="male",
                                                   birth_year=1980)],
                       Metadata(correlation_id="dlq-cli"))
    [event] = await store.read_after(0, 1)
    topic = events_topic("enrolment", topic_prefix)
    async with store.pool.acquire() as conn:
        await quarantine.quarantine(conn, topic, event, "MessageSizeTooLargeError: too big")
    env = {"SONGJI_ENROLMENT_DATABASE_URL": database, "SONGJI_STATE_DIR": str(tmp_path)}

    code, listed = await songji("dlq", "list", "--quarantined", "--service", "enrolment",
                                env=env)
    assert code == 0, listed
    assert "1 quarantined event(s)" in listed
    assert re.search(r"enrolment\s+position 1\s+quarantined", listed), listed
    assert str(event.event_id) in listed and "MessageSizeTooLargeError" in listed

    code, refused = await songji("dlq", "replay", "--quarantined", "--position", "1", env=env)
    assert code == 2, refused  # a position names no store without its service

    code, asked = await songji("dlq", "replay", "--quarantined", "--service", "enrolment",
                               "--position", "1", env=env)
    assert code == 0, asked
    assert "1 quarantined event(s) to be re-driven" in asked
    async with store.pool.acquire() as conn:
        assert await quarantine.due_for_redrive(conn, topic, 10) == [1]
