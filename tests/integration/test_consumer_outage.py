"""A consumer's database goes away: the event waits, it is neither dead-lettered nor lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from services.enrolment.app import SPEC as ENROLMENT
from services.notifications.app import SPEC as NOTIFICATIONS
from shared.eventsourcing.topics import dead_letter_topic
from shared.infra.outage import allow_connections, database_name, refuse_connections
from tests.integration.test_skeleton_services import register
from tests.support import eventually, read_topic, running_service

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 6.0


async def known_workers(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["worker_id"] for r in await conn.fetch("SELECT worker_id FROM known_workers")}
    finally:
        await conn.close()


async def test_an_event_that_arrives_during_a_database_outage_is_applied_after_it(
    new_database: Callable[[], Awaitable[str]], postgres_url: str, kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    enrol_db, notify_db = await new_database(), await new_database()
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    async with (running_service(ENROLMENT, database_url=enrol_db, **common) as (_, enrol),
                running_service(NOTIFICATIONS, database_url=notify_db,
                                **common) as (notes_app, _)):
        first = await register(enrol, 41)

        async def first_known() -> bool:
            return first in await known_workers(notify_db)
        await eventually(first_known)

        [inbox] = [i for i in notes_app.state.ctx.inboxes
                   if i.consumer == "notifications.workers"]
        ended = await refuse_connections(postgres_url, database_name(notify_db))
        try:
            assert ended > 0, "the consumer's pool had no session to lose"
            during = await register(enrol, 42)  # enrolment's own database is up
            await asyncio.sleep(OUTAGE_SECONDS)
        finally:
            await allow_connections(postgres_url, database_name(notify_db))
        dead = await read_topic(kafka_bootstrap, dead_letter_topic(topic_prefix), at_least=1,
                                seconds=2)
        assert dead == [], "a valid event was dead-lettered during the outage"

        async def during_known() -> bool:
            return during in await known_workers(notify_db)
        await eventually(during_known, seconds=30)
        assert inbox.outage_waits > 0, "the consumer never met the outage"


async def test_a_consumer_stopped_while_it_waits_gets_the_event_again_after_restart(
    new_database: Callable[[], Awaitable[str]], postgres_url: str, kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    """Stopping the service mid-wait acknowledges nothing: the restarted consumer reads the
    event again and applies it. The stop is prompt, not held by the wait."""
    enrol_db, notify_db = await new_database(), await new_database()
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    async with running_service(ENROLMENT, database_url=enrol_db, **common) as (_, enrol):
        async with running_service(NOTIFICATIONS, database_url=notify_db,
                                   **common) as (notes_app, _):
            first = await register(enrol, 43)

            async def first_known() -> bool:
                return first in await known_workers(notify_db)
            await eventually(first_known)

            [inbox] = [i for i in notes_app.state.ctx.inboxes
                       if i.consumer == "notifications.workers"]
            await refuse_connections(postgres_url, database_name(notify_db))
            during = await register(enrol, 44)

            async def waiting() -> bool:
                return inbox.outage_waits > 0
            await eventually(waiting)
            stopping = time.monotonic()
        # the service has stopped, while its consumer waited and the database is still away
        assert time.monotonic() - stopping < 15, "the stop was held by the wait"
        await allow_connections(postgres_url, database_name(notify_db))
        assert during not in await known_workers(notify_db)

        async with running_service(NOTIFICATIONS, database_url=notify_db, **common):
            async def during_known() -> bool:
                return during in await known_workers(notify_db)
            await eventually(during_known, seconds=40)
        dead = await read_topic(kafka_bootstrap, dead_letter_topic(topic_prefix), at_least=1,
                                seconds=2)
        assert dead == []
