"""Relay publish rate against a raw aiokafka producer to the same broker.

The store is filled first; then the relay publishes all of it to a fresh topic (reading the
store in position order, building each CloudEvent, sending, checkpointing), timed from its
start until its ``published`` count reaches the total. The baseline is one aiokafka producer,
configured as the relay's, sending the very same records (prebuilt values, keys, headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid

from aiokafka import AIOKafkaProducer

from bench.timing import Rate, measure_rate
from shared.contracts import Metadata
from shared.contracts.training import AttendanceRecorded
from shared.eventsourcing.authenticity import sign_batch
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.relay import Relay
from shared.eventsourcing.signing import SigningKey, new_key_pair
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import ensure_topics
from shared.infra.postgres import create_database

META = Metadata(correlation_id="bench-relay")
signer = SigningKey(new_key_pair()[0])
PARTITIONS = 3
BATCH = 500  # the relay's default batch


def _attendance(stream: int, i: int) -> AttendanceRecorded:
    return AttendanceRecorded(attendance_id=f"a-{stream}-{i}", class_id=f"c-{stream}",
                              session_id=f"s{i}", session_date="2025-03-01",
                              worker_id=f"w-{stream}-{i % 30}", minutes=240,
                              method="face_check")


async def _fill(store: EventStore, events: int) -> None:
    streams = max(1, events // 100)
    for s in range(streams):
        await store.append(f"class-{s}", 0, [_attendance(s, i) for i in range(100)], META)


async def bench_relay(server_url: str, bootstrap: str, *, events: int, repeats: int = 3
                      ) -> dict[str, Rate]:
    dsn = await create_database(server_url, f"bench_{os.getpid()}_relay")
    pool = await create_pool(dsn, max_size=4)
    async with pool.acquire() as conn:
        await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
    store = EventStore(pool)
    try:
        await _fill(store, events)
        total = await store.last_position()
        stored = []
        position = 0
        while chunk := await store.read_after(position, 5000):
            stored.extend(chunk)
            position = chunk[-1].position
        records = [(e.stream_id.encode(), e.envelope("training")) for e in stored]
        records = [(key, env.kafka_value(), env.kafka_headers()) for key, env in records]
        # Signed as the relay signs them, in batches of its size: the same bytes go to the
        # broker in both runs.
        for start in range(0, len(records), BATCH):
            sign_batch([(h, v) for _, v, h in records[start:start + BATCH]], signer)

        async def fresh_topic() -> str:
            topic = f"bench.relay.{uuid.uuid4().hex[:8]}"
            await ensure_topics(bootstrap, [topic], PARTITIONS)
            return topic

        async def relay_run() -> int:
            relay = Relay(store, service="training", signer=signer, bootstrap_servers=bootstrap,
                          topic=await fresh_topic(), partitions=PARTITIONS,
                          probe_interval=3600)
            task = asyncio.create_task(relay.run())
            try:
                while relay.published < total:
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.005)
            finally:
                relay.stop()  # the loop closes its producer on the way out
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 10)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            return relay.published

        async def raw_run() -> int:
            topic = await fresh_topic()
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                        enable_idempotence=False, linger_ms=2)
            await producer.start()
            try:
                sends = [await producer.send(topic, value=value, key=key, headers=headers)
                         for key, value, headers in records]
                await asyncio.gather(*sends)
            finally:
                await producer.stop()
            return len(records)

        relay_rate = await measure_rate("songji relay", relay_run, repeats=repeats)
        raw_rate = await measure_rate("raw aiokafka producer", raw_run, repeats=repeats)
        return {"relay": relay_rate, "raw": raw_rate}
    finally:
        await pool.close()


if __name__ == "__main__":  # a quick look on its own: python -m bench.relay_publish
    from shared.infra.kafka import EmbeddedKafka
    from shared.infra.postgres import EmbeddedPostgres

    with EmbeddedPostgres() as pg, EmbeddedKafka() as kafka:
        started = time.perf_counter()
        print(asyncio.run(bench_relay(pg.url, kafka.bootstrap_servers, events=20_000)))
        print(f"{time.perf_counter() - started:.1f}s")
