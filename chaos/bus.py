"""What the fault injector does on the broker itself: read the topics back, re-produce records
twice and in another cross-stream order, put malformed messages on every topic, and read the
dead-letter topic.

Reading stops when the topics have been quiet for a moment, never at the reported end offsets
(the embedded broker reports them wrong after a multi-record batch).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts.envelope import readable_headers

MALFORMED_KEY_PREFIX = b"chaos-malformed-"


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def header(self) -> dict[str, str]:
        return readable_headers(self.headers)


async def read_all(bootstrap: str, topics: list[str], *, quiet_ms: int = 1500) -> list[Record]:
    """Every record on ``topics`` from offset 0, in each partition's order, up to now: a
    partition is read until a record produced after the call, or until all are quiet (under
    load the topics are never quiet, and the end offsets can't be trusted)."""
    now_ms = int(time.time() * 1000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata partitions_for_topic reads
        partitions = [TopicPartition(t, p) for t in topics
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Record] = []
        done: set[TopicPartition] = set()
        while len(done) < len(partitions):
            batch = await consumer.getmany(timeout_ms=quiet_ms, max_records=5000)
            if not batch:
                break
            for tp, part_records in batch.items():
                for r in part_records:
                    if r.timestamp > now_ms:
                        done.add(tp)
                        consumer.pause(tp)
                        break
                    records.append(Record(r.topic, r.partition, r.offset, r.key, r.value,
                                          tuple(r.headers)))
        return records
    finally:
        await consumer.stop()


def cross_stream_shuffle(records: list[Record], rng: random.Random) -> list[Record]:
    """The same records in a random interleaving of their streams: each stream (topic, key)
    keeps its own order, streams are mixed at random, across topics too."""
    streams: dict[tuple[str, bytes | None], list[Record]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        streams[(r.topic, r.key)].append(r)
    queues = [list(reversed(s)) for s in streams.values()]
    out: list[Record] = []
    while queues:
        i = rng.randrange(len(queues))
        out.append(queues[i].pop())
        if not queues[i]:
            queues.pop(i)
    return out


async def produce(bootstrap: str, records: list[Record]) -> int:
    """Re-produce records as they were (key, value, headers) to the partition they came from,
    in the order given (one producer, no retries reordering a partition's batches)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(r.topic, r.value, key=r.key, partition=r.partition,
                                    headers=list(r.headers)) for r in records]
        await asyncio.gather(*sent)
        return len(records)
    finally:
        await producer.stop()


def distinct(records: list[Record]) -> list[Record]:
    """One record per event (the first seen), whatever was delivered twice before."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for r in records:
        mark = (r.topic, r.header.get("ce_id"))
        if mark[1] is None or mark not in seen:
            seen.add(mark)
            out.append(r)
    return out


def is_injected(record: Record) -> bool:
    return (record.key or b"").startswith(MALFORMED_KEY_PREFIX)
