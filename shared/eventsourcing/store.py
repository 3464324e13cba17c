"""The event store: append with an expected version, read a stream, read after a position.

Every append locks the single ``event_head`` row, so writers are serialised: the position
counter and the hash chain advance in commit order, and a reader tailing ``position > n``
can never see position n+2 before n+1 has committed (the gap-free guarantee the relay and
the auditors rely on). An append is one statement (one round trip), so the lock is held only
for the inserts of one append: a single event (most commands) by ``_APPEND_ONE`` below, several
by the ``songji_append_batch`` function (sql/0005), which loops for the hash chain; events of
several streams at once (``append_to_streams``) by ``songji_append_streams`` (sql/0008). All of
them hand out positions and chain hashes from the same head row, so they interleave freely (and
with ``songji_append``, sql/0003, which code before 0005 calls).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from shared import tracing
from shared.contracts import Envelope, Event, Metadata
from shared.contracts.envelope import kafka_headers as ce_headers
from shared.contracts.envelope import kafka_value as ce_value
from shared.eventsourcing.hashing import (
    AppendHasher,
    canonical_json,
    canonical_text,
    canonical_time,
    chain_hash,
    content_hash,
)

NOTIFY_CHANNEL = "songji_events"  # also named in the append SQL (_APPEND_ONE, sql/0003, sql/0005)
_VERSION_CONFLICT = "SJ409"  # raised by the batch functions when the stream moved on

Clock = Callable[[], datetime]
Progress = Callable[[int, int], Awaitable[None]]  # (checked, total) of a verification


def utc_now() -> datetime:
    return datetime.now(UTC)


def partition_key(stream_id: str) -> str:
    """The key a stream's events are published under: the stream id up to its first '/'.

    A stream named ``<parent>/<part>`` (a trainee's attendance in ``class-<id>/trainee-<w>``)
    is published under its parent's key, so its events share the parent's partition and reach
    every consumer in the order they were committed, with the parent's (a class's records
    before its completion). Any other stream is its own key."""
    return stream_id.split("/", 1)[0]


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it: reload, decide again, retry.

    ``actual`` is None when it could not be read: inside the caller's transaction, which the
    conflict has aborted."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        at = f"version {actual}" if actual is not None else "a later version"
        super().__init__(f"stream {stream_id!r} is at {at}, the append expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class StreamAppend(NamedTuple):
    """Events for one stream of ``EventStore.append_to_streams``, which must be at
    ``expected_version`` (0: a new stream)."""

    stream_id: str
    expected_version: int
    events: Sequence[Event]
    # Its events' own metadata (each command of a batch keeps its correlation id and actor);
    # None: the metadata given to ``append_to_streams`` for all.
    metadata: Metadata | None = None
    # The trace context its events were decided in (a batched command's own request's), in
    # place of the appending task's; None: the appending task's.
    trace: Mapping[str, str] | None = None


class StoredEvent(NamedTuple):
    """One stored event. A named tuple rather than a frozen dataclass: the store builds one for
    every event it appends or reads (the relay, the auditors' replay), and this is about three
    times cheaper to build; fields are in the order of ``_COLUMNS``."""

    position: int
    event_id: UUID
    stream_id: str
    version: int
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    hash: bytes

    def content_hash(self) -> bytes:
        return content_hash(
            event_id=self.event_id, stream_id=self.stream_id, version=self.version,
            event_type=self.event_type, schema_version=self.schema_version,
            data_json=canonical_json(self.data), metadata_json=canonical_json(self.metadata),
            recorded_at=self.recorded_at,
        )

    def envelope(self, service: str) -> Envelope:
        return Envelope(**self._attributes(service), data=self.data)

    def kafka_headers(self, service: str) -> list[tuple[str, bytes]]:
        """What ``envelope(service).kafka_headers()`` gives, without building (and validating)
        an ``Envelope``: the relay does this for every event it publishes. With, when the
        append recorded one, the trace context it was appended in (the CloudEvents
        distributed-tracing extension: ``ce_traceparent``, ``ce_tracestate``)."""
        return ce_headers(**self._attributes(service),
                          traceparent=self.metadata.get("traceparent"),
                          tracestate=self.metadata.get("tracestate"))

    def kafka_value(self) -> bytes:
        return ce_value(self.data)

    def _attributes(self, service: str) -> dict[str, Any]:
        """The CloudEvents attributes of this event, as published by ``service``."""
        actor = self.metadata.get("actor") or {}
        return dict(
            id=self.event_id,
            source=f"/songji/{service}",
            type=self.event_type,
            subject=self.stream_id,
            time=self.recorded_at,
            schema_version=self.schema_version,
            correlation_id=self.metadata.get("correlation_id") or str(self.event_id),
            causation_id=self.metadata.get("causation_id"),
            actor_org=actor.get("org"),
            actor_user=actor.get("user"),
            stream_version=self.version,
            position=self.position,
        )


@dataclass(frozen=True, slots=True)
class Verification:
    checked: int
    first_bad_position: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad_position is None


# One event, one plain statement: without the function call and its loop it costs about three
# quarters of the function's time on the server (docs/benchmarks.md). The UPDATE takes the head
# row's lock (held to commit: positions are handed out in commit order) and chains the hash from
# the latest head even when it waited for another writer (READ COMMITTED re-reads the row it
# locks). The stream's version is checked by the unique index on (stream, version): a writer
# that lost the race fails on it; the EXISTS refuses an expected version the stream never had.
# The JSON goes as text (``::text::jsonb``), the canonical text that was hashed, not through the
# pool's jsonb codec.
_APPEND_ONE = """
WITH head AS (
    UPDATE event_head
       SET last_position = last_position + 1,
           last_hash = sha256(last_hash || int8send(last_position + 1) || $9)
     WHERE id = 1
       AND ($2 = 0 OR EXISTS (SELECT FROM events WHERE stream_id = $1 AND version = $2))
 RETURNING last_position, last_hash, pg_notify('songji_events', last_position::text)
)
INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version,
                    data, metadata, recorded_at, hash)
SELECT last_position, $3, $1, $2 + 1, $4, $5, $6::text::jsonb, $7::text::jsonb, $8, last_hash
  FROM head
RETURNING position AS out_position, hash AS out_hash
"""
# Several events: the function of sql/0005, which loops for the hash chain. The content hashes
# go as one bytea (32 bytes an event), the types and data texts as one text each, joined by
# _SEPARATOR (asyncpg encodes an array element by element: a 100-event append spent about 0.5 us
# an event on the two arrays), and one row comes back: the first position and the hashes.
_APPEND_MANY = ("SELECT out_first, out_hashes FROM songji_append_batch($1, $2, $3, $4, $5, $6, "
                "$7, $8, $9)")
# U+001E, which canonical JSON always writes escaped and no type name holds; the function
# refuses an append whose parts do not count alike.
_SEPARATOR = "\x1e"
# Events of several streams: the function of sql/0008 (as sql/0009 redefines it, taking each
# event's metadata when the appends have their own), the same parts as _APPEND_MANY's plus
# each event's stream and version (the stream ids as an array: they may hold any character).
_APPEND_STREAMS = ("SELECT out_first, out_hashes FROM songji_append_streams($1, $2, $3, $4, "
                   "$5, $6, $7, $8, $9)")
_STREAM_VERSION = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1"
_STREAM_VERSION_KEY = "events_stream_id_version_key"  # UNIQUE (stream_id, version), sql/0001

_COLUMNS = ("position, event_id, stream_id, version, event_type, schema_version, data, "
            "metadata, recorded_at, hash")


async def _version_if_readable(conn: asyncpg.Connection, stream_id: str) -> int | None:
    """The stream's version for the conflict's message; None inside an aborted transaction."""
    if conn.is_in_transaction():
        return None
    return await conn.fetchval(_STREAM_VERSION, stream_id)


# Version 4 ids: the random bytes with the version nibble and the RFC 4122 variant bits set.
_VERSION_4 = bytes(b & 0x0F | 0x40 for b in range(256))
_VARIANT = bytes(b & 0x3F | 0x80 for b in range(256))


try:  # asyncpg's C UUID type, built from 16 bytes; at a path that is not part of its promises
    from asyncpg.pgproto.pgproto import UUID as _uuid_of
except ImportError:  # pragma: no cover - an asyncpg without it: the standard type, slower
    def _uuid_of(raw: bytes) -> UUID:  # type: ignore[misc]
        return UUID(bytes=raw)


def _new_ids(count: int) -> list[UUID]:
    """``count`` random (version 4) ids from one system call. They are asyncpg's own UUID type,
    a ``uuid.UUID`` subclass written in C and what the store's reads already return: about a
    tenth of the cost of ``uuid.UUID(bytes=..., version=4)`` to build, and to format for the
    content hash."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    whole = bytes(raw)
    return [_uuid_of(whole[at:at + 16]) for at in range(0, 16 * count, 16)]


_SERIALIZERS: dict[type[BaseModel], Callable[..., Any]] = {}


def _dump(model: BaseModel) -> dict[str, Any]:
    """``model.model_dump(mode="json")``: pydantic's ``model_dump`` only hands its defaults to
    the model's serializer, which is called here directly (half the time, same values), found
    once per class (reaching it through the class costs a third as much again)."""
    cls = type(model)
    to_python = _SERIALIZERS.get(cls)
    if to_python is None:
        to_python = _SERIALIZERS[cls] = cls.__pydantic_serializer__.to_python
    return to_python(model, mode="json")


def _metadata_of(metadata: Metadata, trace: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The stored metadata: the command's, and the trace context of the append (or ``trace``)
    while tracing is on (shared/tracing.py: the relay publishes the event in that trace)."""
    meta = _dump(metadata)
    if tracing.enabled():
        meta.update(tracing.current_fields() if trace is None else trace)
    return meta


def _row_to_event(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent._make(row)  # the row's columns are _COLUMNS, the tuple's order


class EventStore:
    def __init__(self, pool: asyncpg.Pool, *, clock: Clock = utc_now) -> None:
        self.pool = pool
        self.clock = clock

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        metadata: Metadata,
        *,
        conn: asyncpg.Connection | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` to a stream that must be at ``expected_version`` (0: new stream).

        Pass ``conn`` to append inside the caller's transaction (with its other writes).
        """
        if not events:
            return []
        if conn is not None:
            return await self._append(conn, stream_id, expected_version, events, metadata)
        # One statement is its own transaction: no BEGIN/COMMIT round trips needed.
        async with self.pool.acquire() as own:
            return await self._append(own, stream_id, expected_version, events, metadata)

    async def _append(
        self,
        conn: asyncpg.Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        metadata: Metadata,
    ) -> list[StoredEvent]:
        if not tracing.enabled():
            return await self._append_traced(conn, stream_id, expected_version, events,
                                             metadata)
        with tracing.span("songji.append", attributes={
                "songji.event_type": events[0].ce_type(), "songji.events": len(events)}):
            return await self._append_traced(conn, stream_id, expected_version, events,
                                             metadata)

    async def _append_traced(self, conn: asyncpg.Connection, stream_id: str,
                             expected_version: int, events: Sequence[Event], metadata: Metadata
                             ) -> list[StoredEvent]:
        try:
            if len(events) == 1:
                return await self._append_one(conn, stream_id, expected_version, events[0],
                                              metadata)
            return await self._append_many(conn, stream_id, expected_version, events,
                                           metadata)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _STREAM_VERSION_KEY:
                raise
            raise ConcurrencyError(stream_id, expected_version,
                                   await _version_if_readable(conn, stream_id)) from None
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) == _VERSION_CONFLICT:
                raise ConcurrencyError(stream_id, expected_version, int(exc.detail)) from None
            raise

    async def _append_one(self, conn: asyncpg.Connection, stream_id: str, expected_version: int,
                          event: Event, metadata: Metadata) -> list[StoredEvent]:
        """Most commands append one event: the same steps as ``_append_many`` without its lists."""
        recorded_at = self.clock()
        meta = _metadata_of(metadata)
        meta_text = canonical_text(meta)
        (event_id,) = _new_ids(1)
        event_type = event.ce_type()
        data = _dump(event)
        data_text = canonical_text(data)
        version = expected_version + 1
        schema_version = event.schema_version
        content = AppendHasher(stream_id, canonical_time(recorded_at), meta_text)(
            event_id, version, event_type, schema_version, data_text)
        row = await conn.fetchrow(_APPEND_ONE, stream_id, expected_version, event_id,
                                  event_type, schema_version, data_text, meta_text,
                                  recorded_at, content)
        if row is None:  # the stream is not at the expected version yet: nothing was written
            raise ConcurrencyError(stream_id, expected_version,
                                   await _version_if_readable(conn, stream_id))
        return [StoredEvent(row[0], event_id, stream_id, version, event_type, schema_version,
                            data, meta, recorded_at, row[1])]

    async def _append_many(self, conn: asyncpg.Connection, stream_id: str,
                           expected_version: int, events: Sequence[Event], metadata: Metadata
                           ) -> list[StoredEvent]:
        recorded_at = self.clock()
        meta = _metadata_of(metadata)
        meta_text = canonical_text(meta)
        content = AppendHasher(stream_id, canonical_time(recorded_at), meta_text)
        ids = _new_ids(len(events))
        types, versions, datas, data_texts, hashes = [], [], [], [], []
        for version, event_id, event in zip(itertools.count(expected_version + 1), ids, events):
            event_type = event.ce_type()
            data = _dump(event)
            data_text = canonical_text(data)
            schema_version = event.schema_version
            hashes.append(content(event_id, version, event_type, schema_version, data_text))
            types.append(event_type)
            versions.append(schema_version)
            datas.append(data)
            data_texts.append(data_text)
        first, chained = await conn.fetchrow(_APPEND_MANY, stream_id, expected_version, ids,
                                             _SEPARATOR.join(types), versions,
                                             _SEPARATOR.join(data_texts), meta_text, recorded_at,
                                             b"".join(hashes))
        return [StoredEvent(first + offset, event_id, stream_id, expected_version + offset + 1,
                            event_type, schema_version, data, meta, recorded_at, chain_hash)
                for offset, event_id, event_type, schema_version, data, chain_hash
                in zip(itertools.count(), ids, types, versions, datas, chained)]

    async def append_to_streams(self, appends: Sequence[StreamAppend], metadata: Metadata, *,
                                conn: asyncpg.Connection | None = None
                                ) -> list[list[StoredEvent]]:
        """Append each ``StreamAppend``'s events to its stream, all in one statement (one round
        trip, whatever the number of streams): every stream must be at its expected version,
        or nothing is appended and ``ConcurrencyError`` names the first that is not. The
        events take their positions in the order given, with ``append``'s guarantees (see the
        module's docstring and sql/0008). Returns the stored events of each append, in order.

        A stream may be named once; one given no events is not checked (as ``append``). Pass
        ``conn`` to append inside the caller's transaction.
        """
        seen: set[str] = set()
        for a in appends:
            if a.stream_id in seen:
                raise ValueError(f"stream {a.stream_id!r} named twice in one append")
            seen.add(a.stream_id)
        total = sum(len(a.events) for a in appends)
        if total == 0:
            return [[] for _ in appends]
        given = [a for a in appends if a.events]
        if len(given) == 1 and given[0].trace is None:
            # one stream: ``append``'s own statements, cheaper for one event
            (only,) = given
            stored = await self.append(only.stream_id, only.expected_version, only.events,
                                       only.metadata or metadata, conn=conn)
            return [stored if a is only else [] for a in appends]
        if conn is not None:
            return await self._append_to_streams(conn, appends, total, metadata)
        async with self.pool.acquire() as own:  # one statement: its own transaction
            return await self._append_to_streams(own, appends, total, metadata)

    async def _append_to_streams(self, conn: asyncpg.Connection,
                                 appends: Sequence[StreamAppend], total: int,
                                 metadata: Metadata) -> list[list[StoredEvent]]:
        if not tracing.enabled():
            return await self._append_streams_traced(conn, appends, total, metadata)
        with tracing.span("songji.append_to_streams", attributes={
                "songji.streams": len(appends), "songji.events": total}):
            return await self._append_streams_traced(conn, appends, total, metadata)

    async def _append_streams_traced(self, conn: asyncpg.Connection,
                                     appends: Sequence[StreamAppend], total: int,
                                     metadata: Metadata) -> list[list[StoredEvent]]:
        recorded_at = self.clock()
        meta = _metadata_of(metadata)
        meta_text = canonical_text(meta)
        own_metadata = any(a.metadata is not None or a.trace is not None for a in appends)
        metas: list[dict[str, Any]] = []  # each event's, when an append has its own
        meta_texts: list[str] = []
        when = canonical_time(recorded_at)
        ids = _new_ids(total)
        streams: list[str] = []
        versions: list[int] = []
        types: list[str] = []
        schema_versions: list[int] = []
        datas: list[dict[str, Any]] = []
        data_texts: list[str] = []
        hashes: list[bytes] = []
        next_id = iter(ids)
        for a in appends:
            a_meta, a_meta_text = meta, meta_text
            if a.metadata is not None or a.trace is not None:
                a_meta = _metadata_of(a.metadata or metadata, a.trace)
                a_meta_text = canonical_text(a_meta)
            content = AppendHasher(a.stream_id, when, a_meta_text)
            if own_metadata:
                metas += [a_meta] * len(a.events)
                meta_texts += [a_meta_text] * len(a.events)
            for version, event in zip(itertools.count(a.expected_version + 1), a.events):
                event_type = event.ce_type()
                data = _dump(event)
                data_text = canonical_text(data)
                schema_version = event.schema_version
                hashes.append(content(next(next_id), version, event_type, schema_version,
                                      data_text))
                streams.append(a.stream_id)
                versions.append(version)
                types.append(event_type)
                schema_versions.append(schema_version)
                datas.append(data)
                data_texts.append(data_text)
        try:
            first, chained = await conn.fetchrow(
                _APPEND_STREAMS, ids, streams, versions, _SEPARATOR.join(types),
                schema_versions, _SEPARATOR.join(data_texts),
                _SEPARATOR.join(meta_texts) if own_metadata else meta_text, recorded_at,
                b"".join(hashes))
        except asyncpg.UniqueViolationError as exc:
            # Not expected (the function checks every stream under the head lock, which every
            # append takes first), but a stream's version is never written twice.
            if exc.constraint_name != _STREAM_VERSION_KEY:
                raise
            taken = next((a for a in appends if f"({a.stream_id}, " in (exc.detail or "")),
                         appends[0])
            raise ConcurrencyError(taken.stream_id, taken.expected_version, None) from None
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) != _VERSION_CONFLICT:
                raise
            conflict = json.loads(exc.detail)
            raise ConcurrencyError(conflict["stream_id"], conflict["expected"],
                                   conflict["actual"]) from None
        each_meta = metas if own_metadata else itertools.repeat(meta)
        stored = [StoredEvent(first + offset, event_id, stream_id, version, event_type,
                              schema_version, data, event_meta, recorded_at, chain_hash)
                  for offset, event_id, stream_id, version, event_type, schema_version, data,
                  event_meta, chain_hash in zip(itertools.count(), ids, streams, versions, types,
                                                schema_versions, datas, each_meta, chained)]
        result: list[list[StoredEvent]] = []
        at = 0
        for a in appends:
            result.append(stored[at:at + len(a.events)])
            at += len(a.events)
        return result

    async def read_stream(self, stream_id: str, *, conn: asyncpg.Connection | None = None,
                          from_version: int = 1) -> list[StoredEvent]:
        """The stream's events from ``from_version`` on, in order. Pass ``conn`` when the
        caller holds a connection in a transaction: taking a second one from the pool there
        can deadlock once the pool is exhausted by callers that all hold one and wait for
        another."""
        query = (f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND version >= $2 "
                 "ORDER BY version")
        if conn is not None:
            return [_row_to_event(r) for r in await conn.fetch(query, stream_id, from_version)]
        async with self.pool.acquire() as own:
            return [_row_to_event(r) for r in await own.fetch(query, stream_id, from_version)]

    async def read_streams(self, stream_ids: Sequence[str], *,
                           conn: asyncpg.Connection | None = None,
                           from_versions: Mapping[str, int] | None = None,
                           ) -> dict[str, list[StoredEvent]]:
        """Several streams in one query (``read_stream``'s order and ``conn``): each stream
        named, with its events (from its version in ``from_versions``, else from the first),
        the empty list for a stream with none."""
        named = list(dict.fromkeys(stream_ids))
        starts = from_versions or {}
        if len(named) <= 1:
            return {s: await self.read_stream(s, conn=conn, from_version=starts.get(s, 1))
                    for s in named}
        arguments: tuple[Any, ...] = (named,)
        query = (f"SELECT {_COLUMNS} FROM events WHERE stream_id = ANY($1::text[]) "
                 "ORDER BY stream_id, version")
        if any(starts.get(s, 1) > 1 for s in named):
            arguments = (named, [starts.get(s, 1) for s in named])
            query = (f"SELECT {_COLUMNS} FROM events JOIN unnest($1::text[], $2::integer[]) "
                     "AS wanted(stream_id, from_version) USING (stream_id) "
                     "WHERE version >= from_version ORDER BY stream_id, version")
        if conn is not None:
            rows = await conn.fetch(query, *arguments)
        else:
            async with self.pool.acquire() as own:
                rows = await own.fetch(query, *arguments)
        streams: dict[str, list[StoredEvent]] = {s: [] for s in named}
        for row in rows:
            event = _row_to_event(row)
            streams[event.stream_id].append(event)
        return streams

    async def stream_version(self, stream_id: str, *, conn: asyncpg.Connection | None = None
                             ) -> int:
        """``conn``: as for ``read_stream``."""
        if conn is not None:
            return await conn.fetchval(_STREAM_VERSION, stream_id)
        async with self.pool.acquire() as own:
            return await own.fetchval(_STREAM_VERSION, stream_id)

    async def read_after(self, position: int, limit: int = 1000) -> list[StoredEvent]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
                position, limit,
            )
        return [_row_to_event(r) for r in rows]

    async def last_position(self) -> int:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT last_position FROM event_head WHERE id = 1")

    async def verify(self, *, batch: int = 5000,
                     sealed: Mapping[int, Sequence[bytes]] | None = None,
                     progress: Progress | None = None) -> Verification:
        """Recompute the hash chain from the start; name the first position that breaks it.

        ``sealed``: the chain hashes its service sealed at some positions (and published
        outside this database, ``shared.eventsourcing.heads``). The chain must have each of
        them, and reach the last: a chain recomputed after an edit, or cut short, is caught
        even though it is consistent in itself.

        The chain is checked up to the head read at the start, ``batch`` events at a time,
        each batch in a short read of its own (no snapshot is held for the whole history,
        which takes minutes on a large store): events are only ever appended, so what is
        checked is what was there at the start. ``progress(checked, total)`` is awaited after
        each batch (the auditor's job shows it; it may raise to stop the check)."""
        sealed = sealed or {}
        matched = 0  # the last sealed position the chain was found to have
        previous, checked = b"", 0
        async with self.pool.acquire() as conn:
            start = await conn.fetchrow("SELECT last_position, last_hash FROM event_head")
        total = int(start["last_position"])
        if progress is not None:
            await progress(0, total)
        while checked < total:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT {_COLUMNS} FROM events WHERE position > $1 AND position <= $2 "
                    "ORDER BY position LIMIT $3", checked, total, batch)
            if not rows:
                return Verification(checked, checked + 1,
                                    "the head does not match the last event (removed at the "
                                    "end?)")
            for row in rows:
                event = _row_to_event(row)
                if event.position != checked + 1:
                    return Verification(checked, checked + 1,
                                        f"position {checked + 1} is missing")
                if chain_hash(previous, event.position, event.content_hash()) != event.hash:
                    return Verification(checked, event.position,
                                        f"event at position {event.position} does not match "
                                        "its hash")
                seals = sealed.get(event.position)
                if seals:
                    if any(bytes(h) != event.hash for h in seals):
                        return Verification(
                            checked, event.position,
                            f"the chain at position {event.position} is not the one its "
                            f"service sealed: an event after position {matched} was rewritten "
                            "and the chain recomputed")
                    matched = event.position
                previous = event.hash
                checked += 1
            if progress is not None:
                await progress(checked, total)
        if bytes(start["last_hash"]) != previous:
            return Verification(checked, checked + 1,
                                "the head does not match the last event (removed at the end?)")
        async with self.pool.acquire() as conn:  # one snapshot: the head and the last event
            end = await conn.fetchrow("SELECT last_position, (SELECT coalesce(max(position), 0) "
                                      "FROM events) AS last_event FROM event_head")
        if end["last_event"] > end["last_position"]:
            return Verification(checked, end["last_position"] + 1,
                                "an event past the head (inserted behind the append's back?)")
        last_sealed = max(sealed, default=0)
        if last_sealed > checked:
            return Verification(checked, checked + 1,
                                f"the store ends at position {checked}, but its service sealed "
                                f"position {last_sealed}: events were removed at the end")
        return Verification(checked, None, None)
