"""Backfill: a webhook's events of a past range, read again from the topics and delivered.

Notifications keeps no copy of the events it consumes (the inbox keeps their ids; a delivery
row keeps the events a webhook chose while it existed), so a new webhook's history, or a
range an integrator lost, is read where every event is kept: the publishing services' topics.
The range is a time (the events' ``time``: ``since`` included, ``until`` excluded) and/or store
positions per publishing service (``since`` excluded, ``until`` included: "after the last
position I have"), and ends at the topics' end when the scan starts, so it is finite.

What is guaranteed:

- **Only genuine events**: each is checked as the inbox checks what it consumes (its type's
  service owns the topic, the source matches, the publisher's signature holds); a record that
  fails is skipped and counted, never delivered.
- **Bounded**: one request queues at most ``webhook_backfill_max_events`` deliveries, the ones
  with the lowest positions of each service in turn; when more match, the request ends
  ``limited`` and answers ``next_since_positions``: the same request with those positions
  goes on where this one stopped. The topics are scanned by one backfill at a time, per
  replica, from the offset the broker gives for ``since`` (less a margin for clocks; a broker
  without a time index answers the start, which costs a longer scan, not a different result).
- **Paced and in order per stream**: the deliveries are queued in position order (a stream's
  events are in its service's position order) and scheduled ``1 / webhook_backfill_rate``
  seconds apart; and the claim (webhooks.py) holds a backfilled delivery back while an
  earlier one of its stream in the same backfill is pending or in flight, so a retry does not
  let a later event of the stream overtake it.
- **Once per webhook and event**, as live deliveries: an event already queued or delivered to
  the webhook is not queued again; one that *failed* (the receiver was down) is queued again,
  with its attempts counted afresh, and with ``redeliver`` so is one already delivered.

A scan that dies with its replica is taken over after ``claim_timeout_seconds`` and starts
again; what it had queued is found already queued.
"""

from __future__ import annotations

import asyncio
import heapq
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.notifications.domain import webhooks as signing
from services.notifications.settings import NotificationSettings
from shared.contracts import Envelope, InvalidMessage, UnknownEventType
from shared.contracts.envelope import text_headers
from shared.eventsourcing.authenticity import Authenticity, owner_of_type
from shared.eventsourcing.topics import events_topic
from shared.runtime.service import ServiceContext

log = structlog.get_logger(__name__)

# A record's Kafka timestamp is taken when the relay publishes it, after its event's time, by
# a clock that may differ from the recording one by a little: the seek starts this much early.
SEEK_MARGIN = timedelta(minutes=5)
_INSERT_CHUNK = 500
_IDLE_ROUNDS = 30  # one-second fetches that bring nothing before a scan gives up (and retries)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BackfillRange:
    since_time: datetime | None = None
    until_time: datetime | None = None
    since_positions: Mapping[str, int] | None = None
    until_positions: Mapping[str, int] | None = None
    redeliver: bool = False

    def admits(self, service: str, envelope: Envelope) -> bool:
        if self.since_time is not None and envelope.time < self.since_time:
            return False
        if self.until_time is not None and envelope.time >= self.until_time:
            return False
        position = envelope.position
        since = (self.since_positions or {}).get(service)
        until = (self.until_positions or {}).get(service)
        if since is not None and (position is None or position <= since):
            return False
        return not (until is not None and (position is None or position > until))


_PROGRESS = ("backfill_id, webhook_id, since_time, until_time, since_positions, "
             "until_positions, redeliver, state, records_read, records_refused, events_queued, "
             "events_already, next_since_positions, created_at, finished_at")


async def request(conn: asyncpg.Connection, webhook_id: uuid.UUID,
                  wanted: BackfillRange) -> dict[str, Any]:
    """Record a backfill request (the scan job takes it up); in the caller's transaction."""
    row = await conn.fetchrow(
        f"INSERT INTO webhook_backfills (backfill_id, webhook_id, since_time, until_time, "
        f"since_positions, until_positions, redeliver) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        f"RETURNING {_PROGRESS}",
        uuid.uuid4(), webhook_id, wanted.since_time, wanted.until_time,
        None if wanted.since_positions is None else dict(wanted.since_positions),
        None if wanted.until_positions is None else dict(wanted.until_positions),
        wanted.redeliver)
    return {**dict(row), "deliveries": {}}


async def progress(pool: asyncpg.Pool, webhook_id: uuid.UUID,
                   backfill_id: uuid.UUID) -> dict[str, Any] | None:
    """The request, how far its scan is, and where the deliveries it queued stand."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT {_PROGRESS} FROM webhook_backfills "
                                  "WHERE backfill_id = $1 AND webhook_id = $2",
                                  backfill_id, webhook_id)
        if row is None:
            return None
        counts = await conn.fetch("SELECT state, count(*) AS n FROM webhook_deliveries "
                                  "WHERE backfill_id = $1 GROUP BY state", backfill_id)
    return {**dict(row), "deliveries": {r["state"]: r["n"] for r in counts}}


async def cancel(conn: asyncpg.Connection, webhook_id: uuid.UUID) -> None:
    """A deleted webhook's unfinished backfills end; its deliveries are cancelled by the caller."""
    await conn.execute("UPDATE webhook_backfills SET state = 'cancelled', finished_at = now() "
                       "WHERE webhook_id = $1 AND state IN ('pending', 'scanning')", webhook_id)


# -- the scan --------------------------------------------------------------------------------

@dataclass(order=True, slots=True)
class _Found:
    position: int
    event_id: uuid.UUID = field(compare=False)
    event_type: str = field(compare=False)
    stream: str = field(compare=False)
    cloudevent: dict[str, Any] = field(compare=False)


@dataclass(slots=True)
class _Counts:
    read: int = 0
    refused: int = 0


ConsumerFactory = Callable[[], AIOKafkaConsumer]


class BackfillScanner:
    def __init__(self, pool: asyncpg.Pool, settings: NotificationSettings, *,
                 authenticity: Callable[[Mapping[str, str | None]], Authenticity],
                 consumer: ConsumerFactory, clock: Clock = _now) -> None:
        self.pool, self.settings, self.clock = pool, settings, clock
        self._authenticity, self._consumer = authenticity, consumer

    async def run(self) -> None:
        while True:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("backfill round failed")
                worked = False
            if not worked:
                await asyncio.sleep(self.settings.sender_poll_seconds)

    async def run_once(self) -> bool:
        """Scan the oldest waiting backfill, if any; answer whether there was one."""
        now = self.clock()
        stale = now - timedelta(seconds=self.settings.claim_timeout_seconds)
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """UPDATE webhook_backfills b SET state = 'scanning', claimed_at = $1
                   FROM webhooks w
                   WHERE b.backfill_id = (
                       SELECT backfill_id FROM webhook_backfills
                       WHERE state = 'pending' OR (state = 'scanning' AND claimed_at < $2)
                       ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                     AND w.webhook_id = b.webhook_id
                   RETURNING b.*, w.event_types""", now, stale)
        if row is None:
            return False
        wanted = BackfillRange(row["since_time"], row["until_time"], row["since_positions"],
                               row["until_positions"], row["redeliver"])
        await self.scan(row["backfill_id"], row["webhook_id"], row["claimed_at"],
                        list(row["event_types"]), wanted)
        return True

    async def scan(self, backfill_id: uuid.UUID, webhook_id: uuid.UUID, claimed_at: datetime,
                   event_types: list[str], wanted: BackfillRange) -> None:
        services = sorted({owner_of_type(t) for t in event_types})
        room = self.settings.webhook_backfill_max_events
        counts = _Counts()
        found: list[_Found] = []
        next_since = dict(wanted.since_positions or {})
        limited = False
        for service in services:
            if room == 0:
                limited = True  # the services after the bound keep their ``since``
                break
            kept, more = await self._scan_service(service, set(event_types), wanted, room,
                                                  counts)
            found += kept
            room -= len(kept)
            if kept:
                next_since[service] = kept[-1].position
            if more:
                limited = True
                break
        queued, already = await self._queue(backfill_id, webhook_id, found, wanted.redeliver)
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE webhook_backfills SET state = $3, finished_at = now(), "
                "records_read = $4, records_refused = $5, events_queued = $6, "
                "events_already = $7, next_since_positions = $8 "
                "WHERE backfill_id = $1 AND claimed_at = $2 AND state = 'scanning'",
                backfill_id, claimed_at, "limited" if limited else "done", counts.read,
                counts.refused, queued, already, next_since if limited else None)
        log.info("backfill scanned", backfill_id=str(backfill_id), webhook_id=str(webhook_id),
                 queued=queued, already=already, read=counts.read, refused=counts.refused,
                 limited=limited)

    async def _scan_service(self, service: str, event_types: set[str], wanted: BackfillRange,
                            room: int, counts: _Counts) -> tuple[list[_Found], bool]:
        """The ``room`` matching events of ``service`` with the lowest positions, in position
        order, and whether more matched."""
        topic = events_topic(service, self.settings.topic_prefix)
        authenticity = self._authenticity({topic: service})
        heap: list[tuple[int, int, _Found]] = []  # (-position, tie, found): the largest on top
        more = False
        consumer = self._consumer()
        await consumer.start()
        try:
            await consumer.topics()  # loads the cluster's metadata
            partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            if not tps:
                return [], False
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            starts = await self._starts(consumer, tps, wanted.since_time)
            open_tps = set()
            for tp in tps:
                start = starts.get(tp)
                if start is not None and start < ends[tp]:
                    consumer.seek(tp, start)
                    open_tps.add(tp)
            idle = 0
            while open_tps and idle < _IDLE_ROUNDS:
                batch = await consumer.getmany(*open_tps, timeout_ms=1000, max_records=500)
                idle = 0 if batch else idle + 1
                for tp in list(open_tps):
                    for record in batch.get(tp, []):
                        if record.offset >= ends[tp]:
                            break
                        counts.read += 1
                        hit = self._match(record, topic, service, event_types, wanted,
                                          authenticity, counts)
                        if hit is None:
                            continue
                        if len(heap) < room:
                            heapq.heappush(heap, (-hit.position, counts.read, hit))
                        else:
                            more = True
                            if hit.position < -heap[0][0]:
                                heapq.heapreplace(heap, (-hit.position, counts.read, hit))
                    if await consumer.position(tp) >= ends[tp]:
                        open_tps.discard(tp)
            if open_tps:  # the broker stopped answering short of the end it gave
                raise TimeoutError(f"backfill scan of {topic} stalled")
        finally:
            await consumer.stop()
        return sorted(item for _, _, item in heap), more

    @staticmethod
    async def _starts(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                      since: datetime | None) -> dict[TopicPartition, int | None]:
        if since is None:
            return dict(await consumer.beginning_offsets(tps))
        at = int((since - SEEK_MARGIN).timestamp() * 1000)
        found = await consumer.offsets_for_times({tp: max(at, 0) for tp in tps})
        return {tp: None if hit is None else hit.offset for tp, hit in found.items()}

    @staticmethod
    def _match(record: Any, topic: str, service: str, event_types: set[str],
               wanted: BackfillRange, authenticity: Authenticity,
               counts: _Counts) -> _Found | None:
        try:
            headers = text_headers(record.headers)
            envelope = Envelope.from_kafka(headers, record.value)
        except InvalidMessage:
            counts.refused += 1
            return None
        if envelope.type not in event_types or not wanted.admits(service, envelope):
            return None
        try:  # the same checks as the inbox's, before anything is queued
            authenticity.check(headers, record.value, topic)
        except (InvalidMessage, UnknownEventType):
            counts.refused += 1
            return None
        if envelope.position is None:
            counts.refused += 1  # a published event always has its store position
            return None
        return _Found(envelope.position, envelope.id, envelope.type, envelope.subject,
                      signing.structured_event(envelope))

    async def _queue(self, backfill_id: uuid.UUID, webhook_id: uuid.UUID, found: list[_Found],
                     redeliver: bool) -> tuple[int, int]:
        """Queue the deliveries, paced; answer how many were queued and how many the webhook
        already had (queued, in flight, or delivered and not to be redelivered)."""
        rate = self.settings.webhook_backfill_rate
        start = self.clock()
        queued = 0
        for at in range(0, len(found), _INSERT_CHUNK):
            rows = [{"event_id": str(f.event_id), "event_type": f.event_type,
                     "cloudevent": f.cloudevent, "stream": f.stream, "seq": at + i,
                     "not_before": (start + timedelta(seconds=(at + i) / rate)).isoformat()}
                    for i, f in enumerate(found[at:at + _INSERT_CHUNK])]
            async with self.pool.acquire() as conn:
                done = await conn.fetch(_QUEUE, webhook_id, backfill_id, rows, redeliver)
            queued += len(done)
        return queued, len(found) - queued


# A failed delivery (or, with redelivery, a delivered one) is queued again under this
# backfill; a live one (pending, in flight) is left as it is. Nothing for a deleted webhook.
_QUEUE = """
INSERT INTO webhook_deliveries AS d (delivery_id, webhook_id, event_id, event_type, cloudevent,
                                     state, not_before, backfill_id, stream, backfill_seq)
SELECT gen_random_uuid(), $1, e.event_id, e.event_type, e.cloudevent, 'pending', e.not_before,
       $2, e.stream, e.seq
FROM jsonb_to_recordset($3::jsonb) AS e(event_id uuid, event_type text, cloudevent jsonb,
                                        not_before timestamptz, stream text, seq bigint)
WHERE EXISTS (SELECT 1 FROM webhooks WHERE webhook_id = $1 AND deleted_at IS NULL)
ORDER BY e.seq
ON CONFLICT (webhook_id, event_id) DO UPDATE
    SET state = 'pending', attempts = 0, last_status = NULL, not_before = excluded.not_before,
        claim_token = NULL, claimed_at = NULL, finished_at = NULL,
        backfill_id = excluded.backfill_id, stream = excluded.stream,
        backfill_seq = excluded.backfill_seq
    WHERE d.state = 'failed' OR ($4 AND d.state = 'delivered')
RETURNING 1"""


async def run_backfills(ctx: ServiceContext[NotificationSettings]) -> None:
    """ServiceSpec background job: scan waiting backfills until cancelled."""
    settings = ctx.settings
    assert ctx.public_keys is not None
    keys = ctx.public_keys
    access = settings.kafka_access()

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest",
                                client_id="songji-notifications-backfill",
                                **access.client_options())

    await BackfillScanner(ctx.pool, settings,
                          authenticity=lambda owners: Authenticity(keys, owners),
                          consumer=consumer).run()
