"""The outbox relay: the event store is the outbox.

It publishes committed events to ``<prefix>.<service>.events`` in position order, keyed by stream
id (so each stream's events stay in one partition, in order), and then checkpoints the last
position it published in the service's own database. A crash between publishing and
checkpointing republishes a few events: delivery is at least once, and the inboxes make the
effect exactly once.

It also notices a broker that lost what it was given (a new cluster, a memory-only broker
restarted): it reads back the last record it wrote to each partition, by offset, and when that
record is not there it republishes from the first position. The broker's reported end offsets
are not trusted for this: some Kafka-compatible brokers report them wrong.

Every batch is signed with the service's key as it is published (``authenticity.sign_batch``),
so its readers can tell each of its events from one written to the topic by anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from shared.eventsourcing.authenticity import sign_batch
from shared.eventsourcing.signing import SigningKey
from shared.eventsourcing.store import NOTIFY_CHANNEL, EventStore
from shared.eventsourcing.topics import ensure_topics

log = structlog.get_logger(__name__)


@functools.lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def stream_partitioner(key: bytes | None, all_partitions: list[int],
                       available: list[int]) -> int:
    """The client's default partitioner (Java-compatible murmur2 of the key), remembering each
    stream's hash: aiokafka computes it in pure Python, a tenth of the relay's time per event,
    and a stream's events come in runs."""
    if key is None:
        return DefaultPartitioner()(key, all_partitions, available)
    return all_partitions[_key_hash(key) % len(all_partitions)]


@dataclass
class Checkpoint:
    position: int = 0
    # partition -> [offset, event id] of the last record written there
    offsets: dict[str, list] = field(default_factory=dict)


class Relay:
    def __init__(
        self,
        store: EventStore,
        *,
        service: str,
        signer: SigningKey,
        bootstrap_servers: str,
        topic: str,
        partitions: int = 3,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        probe_interval: float = 5.0,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``client_options``: how its Kafka clients log in (``KafkaAccess.client_options``)."""
        self.store = store
        self.service = service
        self.signer = signer
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.partitions = partitions
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.probe_interval = probe_interval
        self.client_options = dict(client_options or {})
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._stopping = asyncio.Event()
        self.published = 0
        self.republish_count = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Publish until stopped; broker or database outages are retried, never fatal."""
        next_probe = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    await self._connect()
                    if time.monotonic() >= next_probe:
                        await self.check_broker()
                        next_probe = time.monotonic() + self.probe_interval
                    if await self.publish_pending() == 0:
                        await self._idle()
                except (TimeoutError, KafkaError, OSError, asyncpg.PostgresError) as exc:
                    log.warning("relay cycle failed, retrying", topic=self.topic, error=repr(exc))
                    await self._disconnect_producer()
                    await self._idle(self.poll_interval)
        finally:
            # Only the loop closes its own connections, so a stop can never pull the producer
            # from under a publish in flight.
            await self.close()

    def stop(self) -> None:
        """Ask the loop to finish its current cycle and return."""
        self._stopping.set()
        self._wake.set()

    async def close(self) -> None:
        await self._disconnect_producer()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                await self.store.pool.release(self._listener)
            self._listener = None

    async def _connect(self) -> None:
        if self._listener is None or self._listener.is_closed():
            self._listener = await self.store.pool.acquire()
            await self._listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
        if self._producer is None:
            await ensure_topics(self.bootstrap_servers, [self.topic], self.partitions,
                                client_options=self.client_options)
            producer = AIOKafkaProducer(
                **self.client_options,
                bootstrap_servers=self.bootstrap_servers,
                acks="all",
                enable_idempotence=False,  # not needed: the inboxes deduplicate
                linger_ms=2,
                partitioner=stream_partitioner,
            )
            await producer.start()
            self._producer = producer

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _disconnect_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def _idle(self, seconds: float | None = None) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds or self.poll_interval)
        self._wake.clear()

    # -- publishing --------------------------------------------------------------------------

    async def publish_pending(self) -> int:
        """Publish the next batch after the checkpoint; return how many were published."""
        assert self._producer is not None
        checkpoint = await self.load_checkpoint()
        events = await self.store.read_after(checkpoint.position, self.batch_size)
        if not events:
            return 0
        records = [(event.kafka_headers(self.service), event.kafka_value()) for event in events]
        sign_batch(records, self.signer)  # one signature for the batch, a proof for each
        sends = []
        for event, (headers, value) in zip(events, records, strict=True):
            sends.append(await self._producer.send(
                self.topic,
                value=value,
                key=event.stream_id.encode(),
                headers=headers,
            ))
        results = await asyncio.gather(*sends)
        last_in_partition = {meta.partition: i for i, meta in enumerate(results)}
        for partition, i in last_in_partition.items():
            checkpoint.offsets[str(partition)] = [results[i].offset, str(events[i].event_id)]
        checkpoint.position = events[-1].position
        await self._save_checkpoint(checkpoint)
        self.published += len(events)
        log.debug("relay published", topic=self.topic, count=len(events),
                  position=checkpoint.position)
        return len(events)

    async def load_checkpoint(self) -> Checkpoint:
        async with self.store.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT position, offsets FROM relay_checkpoint WHERE topic = $1", self.topic
            )
        return Checkpoint(row["position"], dict(row["offsets"])) if row else Checkpoint()

    async def _save_checkpoint(self, checkpoint: Checkpoint) -> None:
        async with self.store.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO relay_checkpoint (topic, position, offsets, updated_at)
                   VALUES ($1, $2, $3, now())
                   ON CONFLICT (topic) DO UPDATE
                   SET position = $2, offsets = $3, updated_at = now()""",
                self.topic, checkpoint.position, checkpoint.offsets,
            )

    # -- noticing an empty broker --------------------------------------------------------------

    async def check_broker(self) -> bool:
        """Return True (and rewind to the start) when the broker no longer holds what we sent."""
        checkpoint = await self.load_checkpoint()
        if not checkpoint.offsets:
            return False
        missing = await self._first_missing_record(checkpoint)
        if missing is None:
            return False
        log.warning("broker lost published events; republishing from the start",
                    topic=self.topic, checkpoint=checkpoint.position, evidence=missing)
        await ensure_topics(self.bootstrap_servers, [self.topic], self.partitions,
                            client_options=self.client_options)
        await self._save_checkpoint(Checkpoint())
        self.republish_count += 1
        return True

    async def _first_missing_record(self, checkpoint: Checkpoint) -> str | None:
        consumer = AIOKafkaConsumer(
            **self.client_options,
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            topics = await consumer.topics()
            if self.topic not in topics:
                return f"topic {self.topic} is gone"
            for partition, (offset, event_id) in sorted(checkpoint.offsets.items()):
                tp = TopicPartition(self.topic, int(partition))
                consumer.assign([tp])
                consumer.seek(tp, offset)
                records = (await consumer.getmany(tp, timeout_ms=2000, max_records=1)).get(tp, [])
                found = records[0] if records else None
                if found is None or found.offset != offset:
                    return f"partition {partition} has no record at offset {offset}"
                ce_id = dict(found.headers or ()).get("ce_id", b"").decode()
                if ce_id != event_id:
                    return f"partition {partition} offset {offset} holds another event"
            return None
        finally:
            await consumer.stop()
