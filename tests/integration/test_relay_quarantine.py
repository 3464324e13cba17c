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
from shared.eventsourcing.signing import SigningKey
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import events_topic
from tests.support import TEST_PRIVATE_KEYS, eventually, header, read_topic

pytestmark = pytest.mark.integration

ENROLMENT_KEY = SigningKey(TEST_PRIVATE_KEYS["enrolment"])
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
    relay = Relay(store, service="enrolment", signer=ENROLMENT_KEY,
                  bootstrap_servers=kafka_bootstrap, topic=topic,
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


async def test_a_quarantined_event_is_published_once_re_driven_after_the_cause_is_fixed(
    store: EventStore, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Quarantined for its size; the relay's limit raised (the broker takes it), the
    operator's re-drive publishes it with its own key and headers, once."""
    await store.append("w-big", 0, [registered("y" * OVERSIZED)], META)
    await store.append("w-next", 0, [registered("next")], META)
    topic = events_topic("enrolment", topic_prefix)
    options = dict(service="enrolment", signer=ENROLMENT_KEY, bootstrap_servers=kafka_bootstrap,
                   topic=topic,
                   poll_interval=0.1, probe_interval=60)
    async with running(Relay(store, **options)):
        [after] = await read_topic(kafka_bootstrap, topic, at_least=1, seconds=20)
        assert after.key == b"w-next"

        async def quarantined() -> bool:
            return [q.state for q in await quarantined_rows(store.pool)] == ["quarantined"]
        await eventually(quarantined)

    [big] = await store.read_after(0, 1)
    async with running(Relay(store, **options, max_message_bytes=2 * OVERSIZED)):
        async with store.pool.acquire() as conn:
            assert await quarantine.ask_redrive(conn, [big.position]) == 1

        async def redriven() -> bool:
            return [q.state for q in await quarantined_rows(store.pool)] == ["re-driven"]
        await eventually(redriven)
    records = await read_topic(kafka_bootstrap, topic, at_least=3, seconds=3)
    assert sorted(r.key for r in records) == [b"w-big", b"w-next"]
    [record] = [r for r in records if r.key == b"w-big"]
    assert header(record, "ce_id") == str(big.event_id) and len(record.value) > OVERSIZED
