"""The outbox relay: the event store is the outbox.

It publishes committed events to ``<prefix>.<service>.events`` in position order, keyed by
``partition_key`` of the stream id (so each stream's events, and those of the streams named
under it, stay in one partition, in order), and then checkpoints the last
position it published in the service's own database. A crash between publishing and
checkpointing republishes a few events: delivery is at least once, and the inboxes make the
effect exactly once.

It also notices a broker that lost what it was given (a new cluster, a memory-only broker
restarted): it reads back the last record it wrote to each partition, by offset, and when that
record is not there it republishes from the first position. The broker's reported end offsets
are not trusted for this: some Kafka-compatible brokers report them wrong.

Nothing stops it for good. An event the broker refuses whatever is retried (larger than the
largest message it takes, an invalid topic, a corrupt record) is quarantined: recorded with
the reason in ``relay_quarantine`` (``shared.eventsourcing.quarantine``), logged, and passed
by the checkpoint, so the events after it are published; an operator re-drives it once the
cause is fixed. Any other failure (the broker or the database away, a timeout) is retried
after a pause, each retry logged with how many failed in a row and since when.

Every batch is signed with the service's key as it is published (``authenticity.sign_batch``),
so its readers can tell each of its events from one written to the topic by anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.structs import RecordMetadata

from shared import tracing
from shared.eventsourcing import quarantine
from shared.eventsourcing.authenticity import SIGNED_TOGETHER, sign_batch
from shared.eventsourcing.failures import Unpublishable, is_refused_for_good
from shared.eventsourcing.leadership import LeadershipLost
from shared.eventsourcing.signing import SigningKey
from shared.eventsourcing.store import NOTIFY_CHANNEL, EventStore, StoredEvent, partition_key
from shared.eventsourcing.topics import ensure_topics

log = structlog.get_logger(__name__)
# Records handed to the producer between two turns of the event loop (see _send_slice).
SENT_WITHOUT_A_BREAK = 16
# How far before the checkpoint's record a partition must end for the broker probe to take
# the record as lost, when it could not fetch it.
PROBE_SLACK = 1000


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
        max_message_bytes: int = 1_048_576,
        fence: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> None:
        """``client_options``: how its Kafka clients log in (``KafkaAccess.client_options``).
        ``fence``: with several copies of the service, ``Leadership.fence``, run in the
        transaction that writes the checkpoint: a relay that lost the leadership (hung, then
        back) writes nothing, so the checkpoint only ever moves under the current holder."""
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
        self.max_message_bytes = max_message_bytes
        self.fence = fence
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._stopping = asyncio.Event()
        self.published = 0
        self.republish_count = 0
        self.quarantined = 0
        self.failures_in_a_row = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Publish until stopped; broker or database outages are retried, never fatal."""
        next_probe = 0.0
        failing_since = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    await self._connect()
                    if time.monotonic() >= next_probe:
                        await self.check_broker()
                        next_probe = time.monotonic() + self.probe_interval
                    published = await self.publish_pending()
                    published += await self.redrive_requested()
                    self.failures_in_a_row = 0
                    if published == 0:
                        await self._idle()
                # InternalClientError: asyncpg's protocol state broken by a connection
                # closing under a call (seen while a service stops): reconnect, like a loss
                except (TimeoutError, KafkaError, OSError, asyncpg.PostgresError,
                        asyncpg.InterfaceError, asyncpg.InternalClientError,
                        LeadershipLost) as exc:
                    if self.failures_in_a_row == 0:
                        failing_since = time.monotonic()
                    self.failures_in_a_row += 1
                    log.warning("relay cycle failed, retrying", topic=self.topic,
                                failures_in_a_row=self.failures_in_a_row,
                                failing_for_seconds=round(time.monotonic() - failing_since, 1),
                                error=repr(exc))
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

    def resume(self) -> None:
        """Undo ``stop`` before running again (a copy of the service that leads again)."""
        self._stopping.clear()

    async def close(self) -> None:
        await self._disconnect_producer()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                await self.store.pool.release(self._listener)
            self._listener = None

    def _listening(self) -> bool:
        """Whether the listener connection is still there: after the database ended it, the
        pool may have taken it back, and then even asking it fails."""
        try:
            return self._listener is not None and not self._listener.is_closed()
        except asyncpg.InterfaceError:
            return False

    async def _connect(self) -> None:
        if not self._listening():
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await self.store.pool.release(self._listener)
                self._listener = None
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
                max_request_size=self.max_message_bytes,
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
        """Publish the next batch after the checkpoint; return how many were published or
        quarantined. The checkpoint moves past every event published or refused for good, up
        to the first that failed otherwise; that failure is raised (the cycle is retried)."""
        checkpoint = await self.load_checkpoint()
        events = await self.store.read_after(checkpoint.position, self.batch_size)
        if not events:
            return 0
        outcomes = await self._send(events)
        done = 0
        refused: list[tuple[StoredEvent, BaseException]] = []
        retry: BaseException | None = None
        last_in_partition: dict[int, tuple[int, StoredEvent]] = {}
        for event, outcome in zip(events, outcomes, strict=True):
            if isinstance(outcome, RecordMetadata):
                last_in_partition[outcome.partition] = (outcome.offset, event)
            elif is_refused_for_good(outcome):
                refused.append((event, outcome))
            else:
                retry = outcome
                break
            done += 1
        if done:
            for partition, (offset, event) in last_in_partition.items():
                checkpoint.offsets[str(partition)] = [offset, str(event.event_id)]
            checkpoint.position = events[done - 1].position
            await self._save_checkpoint(checkpoint, refused)
            self.published += done - len(refused)
            log.debug("relay published", topic=self.topic, count=done - len(refused),
                      position=checkpoint.position)
        if retry is not None:
            raise retry
        return done

    async def _send(self, events: list[StoredEvent]) -> list[RecordMetadata | BaseException]:
        """Send the events in order; each one's record metadata, or why it was not taken.

        They are made, signed and handed to the producer ``SIGNED_TOGETHER`` at a time, with
        the event loop let go between slices: a whole batch made and signed in one go holds
        the loop for tens of milliseconds, and every request of the service waits behind it
        (a recompute job's thousands of lines publish in such batches)."""
        assert self._producer is not None
        sends: list[asyncio.Future | BaseException] = []
        for start in range(0, len(events), SIGNED_TOGETHER):
            if start:
                await asyncio.sleep(0)
            stopped = await self._send_slice(events[start:start + SIGNED_TOGETHER], sends)
            if stopped is not None:
                # Sending the rest now could put a stream's later events on the topic before
                # the one refused: they wait for the retry of the whole cycle.
                sends.extend(stopped for _ in range(len(events) - len(sends)))
                break
        futures = [s for s in sends if not isinstance(s, BaseException)]
        results = iter(await asyncio.gather(*futures, return_exceptions=True))
        return [s if isinstance(s, BaseException) else next(results) for s in sends]

    async def _send_slice(self, events: list[StoredEvent],
                          sends: list[asyncio.Future | BaseException]) -> KafkaError | None:
        """Make, sign and send ``events``, adding each one's send (or why it could not be made)
        to ``sends``; the error that stops the batch, when the producer refused one for now."""
        assert self._producer is not None
        records: list[tuple[list[tuple[str, bytes]], bytes] | BaseException] = []
        for event in events:
            try:
                records.append((event.kafka_headers(self.service), event.kafka_value()))
            except (ValueError, TypeError) as exc:  # its content cannot be serialised
                records.append(Unpublishable(repr(exc)))
        # One signature for the records that could be made, a proof for each.
        sign_batch([r for r in records if not isinstance(r, BaseException)], self.signer)
        for at, (event, record) in enumerate(zip(events, records, strict=True)):
            if at % SENT_WITHOUT_A_BREAK == 0:
                # The loop let go between a few sends too: making and signing a slice, then
                # handing all of it to the producer, holds it for milliseconds, which a
                # read of the service served meanwhile would wait through.
                await asyncio.sleep(0)
            if isinstance(record, BaseException):
                sends.append(record)
                continue
            headers, value = record
            try:
                # In the trace of the append, when it recorded one; the hop's trace headers
                # are added by the aiokafka instrumentation, after signing (shared/tracing.py).
                with tracing.span("songji.publish", parent=tracing.context_of(event.metadata),
                                  attributes={"songji.event_type": event.event_type}):
                    sends.append(await self._producer.send(
                        self.topic, value=value, key=partition_key(event.stream_id).encode(),
                        headers=headers))
            except KafkaError as exc:  # refused before sending (e.g. larger than the client takes)
                sends.append(exc)
                if not is_refused_for_good(exc):
                    return exc
        return None

    async def redrive_requested(self) -> int:
        """Publish again the quarantined events an operator asked for; one the broker refuses
        again goes back to quarantine with the new reason. Returns how many were re-driven."""
        async with self.store.pool.acquire() as conn:
            positions = await quarantine.due_for_redrive(conn, self.topic, self.batch_size)
        events = [e for p in positions for e in await self.store.read_after(p - 1, 1)
                  if e.position == p]
        if not events:
            return 0
        outcomes = await self._send(events)
        done = 0
        async with self.store.pool.acquire() as conn:
            for event, outcome in zip(events, outcomes, strict=True):
                if isinstance(outcome, RecordMetadata):
                    await quarantine.redriven(conn, self.topic, event.position)
                    log.info("quarantined event re-driven", topic=self.topic,
                             position=event.position, event_id=str(event.event_id))
                    done += 1
                elif is_refused_for_good(outcome):
                    await self._quarantine(conn, event, outcome)
                else:
                    raise outcome
        return done

    async def _quarantine(self, conn: asyncpg.Connection, event: StoredEvent,
                          refusal: BaseException) -> None:
        reason = f"{type(refusal).__name__}: {refusal}"
        await quarantine.quarantine(conn, self.topic, event, reason)
        self.quarantined += 1
        log.error("the broker refused an event for good: quarantined, the relay goes on",
                  topic=self.topic, position=event.position, event_id=str(event.event_id),
                  event_type=event.event_type, reason=reason[:500])

    async def load_checkpoint(self) -> Checkpoint:
        async with self.store.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT position, offsets FROM relay_checkpoint WHERE topic = $1", self.topic
            )
        return Checkpoint(row["position"], dict(row["offsets"])) if row else Checkpoint()

    async def _save_checkpoint(
        self, checkpoint: Checkpoint,
        refused: list[tuple[StoredEvent, BaseException]] | None = None,
    ) -> None:
        """Write the checkpoint and quarantine what the broker refused, in one transaction:
        the checkpoint never passes an event that is neither on the topic nor recorded."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            if self.fence is not None:
                await self.fence(conn)
            for event, refusal in refused or ():
                await self._quarantine(conn, event, refusal)
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
            auto_offset_reset="none",  # a record out of range is looked into, not skipped
        )
        await consumer.start()
        try:
            topics = await consumer.topics()
            if self.topic not in topics:
                return f"topic {self.topic} is gone"
            for partition, (offset, event_id) in sorted(checkpoint.offsets.items()):
                tp = TopicPartition(self.topic, int(partition))
                missing = f"partition {partition} has no record at offset {offset}"
                consumer.assign([tp])
                consumer.seek(tp, offset)
                try:
                    records = (await consumer.getmany(tp, timeout_ms=2000, max_records=1)
                               ).get(tp, [])
                except OffsetOutOfRangeError:
                    records = []
                if not records:
                    # Not fetched: lost, or a busy broker that did not answer in time. Only a
                    # partition that is empty or ends well before the record says it is
                    # lost (a broker back empty, or truncated); the end a broker reports can
                    # trail what it has acknowledged by a few records (seen with Tansu while
                    # the relay publishes). Otherwise the next probe looks again.
                    end = (await consumer.end_offsets([tp]))[tp]
                    if end == 0 or end + PROBE_SLACK <= offset:
                        return f"{missing} (it ends at {end})"
                    log.info("broker probe inconclusive: record not fetched in time",
                             topic=self.topic, partition=partition, offset=offset, end=end)
                    return None
                found = records[0]
                if found.offset != offset:
                    return missing
                ce_id = dict(found.headers or ()).get("ce_id", b"").decode()
                if ce_id != event_id:
                    return f"partition {partition} offset {offset} holds another event"
            return None
        finally:
            await consumer.stop()
