"""Two relays on one store: one publishes while the other waits; when the holder is killed
(``kill -9``) or hangs (``SIGSTOP``), the other takes over within 5 s, and the topic holds
every event, each stream's in order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator

import pytest

from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing.leadership import Leadership, lock_key
from shared.eventsourcing.relay import Relay
from shared.eventsourcing.signing import SigningKey
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import events_topic
from tests.integration.test_relay import META, fill, first_seen_versions
from tests.support import TEST_PRIVATE_KEYS, eventually, fetch, header, read_topic

pytestmark = pytest.mark.integration

ROLE = "enrolment.relay"
TAKEOVER_LIMIT_SECONDS = 5.0


async def lock_holders(dsn: str) -> list[int]:
    """The backends holding the relay's lock."""
    key = lock_key(ROLE)
    rows = await fetch(dsn, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                            "AND classid::bigint = $1 AND objid::bigint = $2",
                       (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)
    return [r["pid"] for r in rows]


async def checkpoint(dsn: str, topic: str) -> int:
    rows = await fetch(dsn, "SELECT position FROM relay_checkpoint WHERE topic = $1", topic)
    return rows[0]["position"] if rows else 0


@contextlib.asynccontextmanager
async def holder_process(dsn: str, bootstrap: str, topic: str
                         ) -> AsyncIterator[asyncio.subprocess.Process]:
    """A relay under leadership in its own process; it holds the lock once this yields."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.relay_holder", dsn, bootstrap, topic,
        stdout=asyncio.subprocess.DEVNULL)
    async def holding() -> list[int]:
        assert process.returncode is None, f"the holder exited with {process.returncode}"
        return await lock_holders(dsn)
    try:
        await eventually(holding, seconds=90)  # a loaded machine starts Python slowly
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def standby(store: EventStore, dsn: str, bootstrap: str, topic: str
                  ) -> AsyncIterator[tuple[Leadership, Relay]]:
    leadership = Leadership(dsn, ROLE, lease_seconds=2.0, retry_seconds=0.5)
    relay = Relay(store, service="enrolment", signer=SigningKey(TEST_PRIVATE_KEYS["enrolment"]),
                  bootstrap_servers=bootstrap, topic=topic, batch_size=20, poll_interval=0.2,
                  fence=leadership.fence)

    async def lead() -> None:
        relay.resume()
        await relay.run()

    task = asyncio.create_task(leadership.run(lead))
    try:
        yield leadership, relay
    finally:
        leadership.stop()
        relay.stop()
        await asyncio.wait_for(task, 20)


async def append_stream_events(store: EventStore, stream: str, count: int) -> None:
    for version in range(count):
        await store.append(stream, version, [WorkerRegistered(
            worker_id=f"{stream}-{version}", gender="female", birth_year=1990)], META)
        await asyncio.sleep(0.01)


async def took_over(leadership: Leadership, since: float) -> float:
    await eventually(lambda: _holding(leadership), seconds=15, interval=0.05)
    return time.monotonic() - since


async def _holding(leadership: Leadership) -> bool:
    return leadership.holding


async def assert_complete_and_ordered(bootstrap: str, topic: str, expected: int) -> None:
    records = await read_topic(bootstrap, topic, at_least=expected)
    assert len({header(r, "ce_id") for r in records}) == expected  # nothing skipped
    for stream, versions in first_seen_versions(records).items():
        assert versions == sorted(versions), stream  # first seen in order, per stream


async def test_a_standby_takes_over_from_a_killed_holder(
    store: EventStore, database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = events_topic("enrolment", topic_prefix)
    await fill(store, 4, 10)
    async with holder_process(database, kafka_bootstrap, topic) as holder, \
            standby(store, database, kafka_bootstrap, topic) as (leadership, relay):
        await eventually(lambda: _at(database, topic, 40))
        await asyncio.sleep(1.5)  # the standby tried, and tried again
        assert not leadership.holding and relay.published == 0
        assert await lock_holders(database) != [leadership._pid]

        writing = asyncio.create_task(append_stream_events(store, "killed-mid-run", 60))
        await asyncio.sleep(0.3)  # the holder is publishing these
        holder.kill()  # kill -9
        killed_at = time.monotonic()
        takeover = await took_over(leadership, killed_at)
        await writing
        print(f"takeover after kill -9: {takeover:.2f} s")
        assert takeover < TAKEOVER_LIMIT_SECONDS
        await eventually(lambda: _at(database, topic, 100))
        assert relay.published > 0
    await assert_complete_and_ordered(kafka_bootstrap, topic, 100)


async def test_a_standby_takes_over_from_a_hung_holder_which_then_stands_aside(
    store: EventStore, database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = events_topic("enrolment", topic_prefix)
    await fill(store, 2, 10)
    async with holder_process(database, kafka_bootstrap, topic) as holder, \
            standby(store, database, kafka_bootstrap, topic) as (leadership, relay):
        await eventually(lambda: _at(database, topic, 20))
        os.kill(holder.pid, signal.SIGSTOP)  # hung: its connections stay open, silent
        hung_at = time.monotonic()
        takeover = await took_over(leadership, hung_at)
        print(f"takeover from a hung holder: {takeover:.2f} s")
        assert takeover < TAKEOVER_LIMIT_SECONDS
        await append_stream_events(store, "while-hung", 20)
        await eventually(lambda: _at(database, topic, 40))
        assert relay.published >= 20

        os.kill(holder.pid, signal.SIGCONT)  # back: it finds its lease gone
        await append_stream_events(store, "after-resume", 20)
        await eventually(lambda: _at(database, topic, 60))
        await asyncio.sleep(1.0)
        assert await lock_holders(database) == [leadership._pid]
        assert leadership.holding
    await assert_complete_and_ordered(kafka_bootstrap, topic, 60)


async def _at(dsn: str, topic: str, position: int) -> bool:
    return await checkpoint(dsn, topic) >= position
