"""An event the broker refuses for good does not stop the relay: it is quarantined, the events
after it are published, and it can be re-driven."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing import quarantine
from shared.eventsourcing.relay import Relay
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import events_topic
from tests.support import eventually, header, read_topic

pytestmark = pytest.mark.integration

META = Metadata(correlation_id="quarantine-test")
OVERSIZED = 1_200_000  # characters; the producer takes at most 1 MB (max_request_size)


def registered(worker_id: str) -> WorkerRegistered:
    # model_construct: the store takes it as given, as it took a command's oversized field
    return WorkerRegistered.model_construct(worker_id=worker_id, gender="male", birth_year=1980)


async def quarantined_rows(pool: asyncpg.Pool) -> list[quarantine.Quarantined]:
    async with pool.acquire() as conn:
        return await quarantine.listed(conn, limit=100, include_redriven=True)


@contextlib.asynccontextmanager
async def running(relay: Relay):
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        relay.stop()
        await asyncio.wait_for(task, 15)


async def test_an_oversized_event_is_quarantined_and_the_events_after_it_are_published(
    store: EventStore, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await store.append("w-before", 0, [registered("before")], META)
    await store.append("w-big", 0, [registered("x" * OVERSIZED)], META)
    for i in range(3):
        await store.append(f"w-after-{i}", 0, [registered(f"after-{i}")], META)
    topic = events_topic("enrolment", topic_prefix)
    relay = Relay(store, service="enrolment", bootstrap_servers=kafka_bootstrap, topic=topic,
                  poll_interval=0.1, probe_interval=60)
    async with running(relay):
        records = await read_topic(kafka_bootstrap, topic, at_least=4, seconds=20)
        published = sorted(r.key.decode() for r in records)
        assert published == ["w-after-0", "w-after-1", "w-after-2", "w-before"], (
            "the relay stopped at the oversized event")

        async def checkpoint_at_head() -> bool:
            return (await relay.load_checkpoint()).position == 5
        await eventually(checkpoint_at_head)

    [row] = await quarantined_rows(store.pool)
    assert (row.position, row.stream_id, row.topic) == (2, "w-big", topic)
    assert "MessageSizeTooLarge" in row.reason
    assert row.state == "quarantined" and relay.quarantined == 1


async def test_a_quarantined_event_is_published_again_when_a_re_drive_is_asked(
    store: EventStore, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The cause fixed (here: a row as the relay writes it, for an event the broker takes),
    the operator's re-drive publishes it with its own headers and key, once."""
    await store.append("w-held", 0, [registered("held")], META)
    [held] = await store.read_after(0, 1)
    topic = events_topic("enrolment", topic_prefix)
    async with store.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO relay_checkpoint (topic, position) VALUES ($1, 1)""", topic)
        await quarantine.quarantine(conn, topic, held, "MessageSizeTooLargeError: (was)")
    relay = Relay(store, service="enrolment", bootstrap_servers=kafka_bootstrap, topic=topic,
                  poll_interval=0.1, probe_interval=60)
    async with running(relay):
        await asyncio.sleep(0.5)
        assert await read_topic(kafka_bootstrap, topic, at_least=1, seconds=1) == []
        async with store.pool.acquire() as conn:
            assert await quarantine.ask_redrive(conn, [held.position]) == 1
        [record] = await read_topic(kafka_bootstrap, topic, at_least=1, seconds=20)
        assert record.key == b"w-held" and header(record, "ce_id") == str(held.event_id)

        async def redriven() -> bool:
            [row] = await quarantined_rows(store.pool)
            return row.state == "re-driven"
        await eventually(redriven)
    await asyncio.sleep(0.3)
    assert len(await read_topic(kafka_bootstrap, topic, at_least=2, seconds=1)) == 1
