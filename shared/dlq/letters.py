"""Reading the dead-letter topic and putting letters back on the topics they came from.

A dead letter is the record a consumer could not handle, with its own key, value and headers,
plus ``dlq_*`` headers: the reason, the consumer, where it came from and when. It is named by
where it is on the dead-letter topic, ``partition:offset``. Replaying one produces its record
again, as it was, on its origin topic: every consumer of that topic reads it again, and those
that had applied it skip it (their inboxes know its id).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.contracts.envelope import readable_headers
from shared.eventsourcing.inbox import DEAD_LETTER_HEADER_PREFIX
from shared.eventsourcing.kafka_access import KafkaAccess

MAX_READ = 100_000  # letters read at most in one command
QUIET_MS = 1_500  # the topic is taken as read to its end after this long with nothing new
READ_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Letter:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]  # all of them, as text

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    def dlq(self, name: str) -> str:
        return self.headers.get(f"{DEAD_LETTER_HEADER_PREFIX}{name}", "")

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.headers.items()
                if not k.startswith(DEAD_LETTER_HEADER_PREFIX)]

    @property
    def origin(self) -> tuple[str, str, str]:
        return (self.dlq("origin_topic"), self.dlq("origin_partition"),
                self.dlq("origin_offset"))

    @property
    def event_type(self) -> str:
        return self.headers.get("ce_type", "")

    @property
    def event_id(self) -> str:
        return self.headers.get("ce_id", "")


@dataclass(frozen=True, slots=True)
class LetterFilter:
    consumer: str | None = None
    event_type: str | None = None
    origin_topic: str | None = None
    reason_contains: str | None = None

    def __call__(self, letter: Letter) -> bool:
        return ((self.consumer is None or letter.dlq("consumer") == self.consumer)
                and (self.event_type is None or letter.event_type == self.event_type)
                and (self.origin_topic is None or letter.dlq("origin_topic") == self.origin_topic)
                and (self.reason_contains is None
                     or self.reason_contains.lower() in letter.dlq("reason").lower()))

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.consumer, self.event_type, self.origin_topic,
                                       self.reason_contains))


def parse_ref(ref: str) -> tuple[int, int]:
    partition, sep, offset = ref.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"{ref!r}: a dead letter is named partition:offset, e.g. 0:12")
    return int(partition), int(offset)


def _letter(record: ConsumerRecord) -> Letter:
    return Letter(partition=record.partition, offset=record.offset,
                  timestamp_ms=record.timestamp, key=record.key, value=record.value,
                  headers=readable_headers(record.headers))


def _login() -> dict[str, Any]:
    """How the operator's tool logs in to the cluster (SONGJI_KAFKA_*, as the services do):
    a secured cluster refuses a client that does not."""
    return KafkaAccess.from_env().client_options()


async def read_letters(bootstrap: str, topic: str, *, keep: Callable[[Letter], bool],
                       limit: int, after: dict[int, int] | None = None) -> list[Letter]:
    """The letters ``keep`` accepts, oldest first per partition, at most ``limit``; ``after``:
    per partition, only offsets above this one. Reads until the topic has been quiet for a
    moment (the broker's end offsets are not trusted), within a deadline."""
    consumer = AIOKafkaConsumer(**_login(), bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    found: list[Letter] = []
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()  # refresh the metadata once
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        for tp in tps:
            start = (after or {}).get(tp.partition)
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start + 1)
        deadline = time.monotonic() + READ_DEADLINE_SECONDS
        read = 0
        while len(found) < limit and read < MAX_READ and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=QUIET_MS, max_records=500)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    read += 1
                    letter = _letter(record)
                    if keep(letter):
                        found.append(letter)
    finally:
        await consumer.stop()
    found.sort(key=lambda letter: (letter.timestamp_ms, letter.partition, letter.offset))
    return found[:limit]


async def read_one(bootstrap: str, topic: str, partition: int, offset: int) -> Letter | None:
    consumer = AIOKafkaConsumer(**_login(), bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        records = (await consumer.getmany(tp, timeout_ms=3000, max_records=1)).get(tp, [])
        return _letter(records[0]) if records and records[0].offset == offset else None
    finally:
        await consumer.stop()


def distinct_origins(letters: Iterable[Letter]) -> list[Letter]:
    """One letter per origin record: a record several consumers dead-lettered is replayed
    once (every consumer of its topic reads it again anyway)."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for letter in letters:
        if letter.origin not in seen:
            seen.add(letter.origin)
            kept.append(letter)
    return kept


async def replay(bootstrap: str, letters: Iterable[Letter]) -> int:
    """Produce each letter's record again on its origin topic, with its key and its own
    headers; how many were produced."""
    producer = AIOKafkaProducer(**_login(), bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent = 0
    try:
        for letter in letters:
            topic = letter.dlq("origin_topic")
            if not topic:
                raise ValueError(f"dead letter {letter.ref} names no origin topic")
            await producer.send_and_wait(topic, letter.value, key=letter.key,
                                         headers=letter.original_headers)
            sent += 1
    finally:
        await producer.stop()
    return sent
