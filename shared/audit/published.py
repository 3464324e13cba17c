"""The topics against the stores: what is on a service's topic is in its store, and the reverse.

A consumer trusts a topic; the auditor trusts the store's hash chain (sealed, see
``shared.eventsourcing.heads``). So the replay compares the two, event by event:

- every record on ``<prefix>.<service>.events`` must be an event of that service's store, with
  the same id, source, type, stream, stream version, schema version, time and data, at the
  position it names (``ce_position``). A record with no position, one past the store's end, or
  one whose content differs from the store's event at its position is a forged (or altered)
  event: a difference;
- every event of the store up to the relay's checkpoint (what it says it published) must be on
  the topic: one that is not is missing, a difference too. Events after the checkpoint may or
  may not be on the topic yet: those present are compared, those absent are not counted.

Each record is reduced, as it is read, to a 16-byte digest of the bytes that make it (the
headers above and the body) kept in one ``bytearray`` per service, indexed by position: 16
bytes an event (16 MB for a million), whatever the size of the events. The store is then read
once, in position order, each event digested the way the relay would publish it
(``StoredEvent.kafka_headers`` / ``kafka_value``), and compared with its slot. Duplicates on a
topic (delivery is at least once, and a relay republishes to a broker that lost its data)
share their slot; a record at an occupied slot with another digest is kept aside (bounded) and
compared too, so a forgery cannot hide behind the genuine event of its position.
"""

from __future__ import annotations

import asyncio
import hashlib
import marshal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import asyncpg

from shared.contracts.envelope import kafka_value
from shared.eventsourcing.db import create_pool

if TYPE_CHECKING:
    from shared.eventsourcing.store import StoredEvent

DIGEST = 16
_EMPTY = bytes(DIGEST)
# Which headers the digest covers, in this order, then the body (see ``digest``).
COVERED = ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_time", "ce_schemaversion",
           "ce_streamversion")
MAX_DIFFERENCES = 10_000  # named one by one; beyond this they are only counted
# What a stored event's digest is made of, in ``_digest_of_row``'s order (not its metadata).
_FIELDS = "position, event_id, stream_id, version, event_type, schema_version, data, recorded_at"
_ROWS = f"SELECT {_FIELDS} FROM events WHERE position <= $1 ORDER BY position"
_ROWS_AT = f"SELECT {_FIELDS} FROM events WHERE position = any($1::bigint[])"
_CHUNK = DIGEST * 4096  # slots compared at a time (in C) before looking at them one by one
MAX_ASIDE = 100_000  # records kept aside: conflicting or past the store's end when read


@dataclass(frozen=True)
class TopicDifference:
    service: str
    position: int | None  # the store position (None: the record names none)
    event_id: str | None
    problem: str  # "not_in_store" | "differs_from_store" | "missing_from_topic" | "no_position"
    detail: str


def digest(parts: Sequence[bytes | None], value: bytes | None) -> bytes:
    """The digest of a record from its ``COVERED`` header values (None: absent) and its body.
    ``marshal`` writes each part with its type and length, so no two different records give
    the same bytes; it is one C call, where hashing the parts one by one cost ~2 us a record.
    Its version 2: from version 3 on, an object's bytes depend on how many references it
    has (it may be written as shared), so equal records could differ."""
    return _blake2b(_marshal((tuple(parts), value), 2), digest_size=DIGEST).digest()


_blake2b = hashlib.blake2b
_marshal = marshal.dumps


class TopicImage:
    """What the topics of ``services`` hold, a digest per store position (see the module)."""

    def __init__(self, services: Sequence[str], heads: Mapping[str, tuple[int, int]]) -> None:
        """``heads``: each service's (published, last position), read before the topics
        (``store_heads``): what the relay had published then must all be on the topic."""
        self.services = list(services)
        self.published = {s: heads[s][0] for s in services}
        self.heads = {s: max(0, heads[s][1]) for s in services}
        self.slots = {s: bytearray(DIGEST * self.heads[s]) for s in services}
        self.aside: dict[str, list[tuple[int, bytes, str]]] = {s: [] for s in services}
        self.differences: list[TopicDifference] = []
        self.uncounted = 0  # differences past MAX_DIFFERENCES
        self.records = 0
        self._layouts: dict[int, tuple[Sequence[str], _Layout]] = {}
        self._set_aside: set[tuple[str, int, bytes]] = set()

    def add(self, service: str, names: Sequence[str], values: Sequence[bytes | None],
            value: bytes | None) -> None:
        """One record read from ``service``'s topic."""
        self.records += 1
        # The records of a topic nearly all have the same header names, handed over as one
        # shared tuple (``topic_reader``): where the covered headers are in it is worked out
        # once per tuple, not once per record.
        known = self._layouts.get(id(names))
        if known is None or known[0] is not names:
            known = self._layouts[id(names)] = (names, _layout(names))
        covered, at_position, at_id = known[1]
        if covered is None:  # a header named twice: the last one counts, as in a dict
            headers = dict(zip(names, values, strict=False))
            parts = tuple(headers.get(name) for name in COVERED)
            raw_position, raw_id = headers.get("ce_position"), headers.get("ce_id")
        else:
            parts = covered(values)
            raw_position = values[at_position] if at_position is not None else None
            raw_id = values[at_id] if at_id is not None else None
        try:
            position = int(raw_position or b"")
        except (ValueError, TypeError):
            position = 0
        if position < 1:
            self._differ(TopicDifference(service, None, _text(raw_id), "no_position",
                                         "a record that names no store position"))
            return
        mine = _blake2b(_marshal((parts, value), 2), digest_size=DIGEST).digest()
        if position <= self.heads[service]:
            slots, at = self.slots[service], (position - 1) * DIGEST
            seen = bytes(slots[at:at + DIGEST])
            if seen == _EMPTY:
                slots[at:at + DIGEST] = mine
                return
            if seen == mine:  # the same record again
                return
        self._aside(service, position, mine, _text(raw_id) or "")

    def _aside(self, service: str, position: int, mine: bytes, event_id: str) -> None:
        if (service, position, mine) in self._set_aside:  # the same record again
            return
        if len(self._set_aside) >= MAX_ASIDE:
            self._differ(TopicDifference(service, position, event_id or None, "not_compared",
                                         "too many records past the store's end or in "
                                         "conflict to compare them all"))
            return
        self._set_aside.add((service, position, mine))
        self.aside[service].append((position, mine, event_id))

    def _differ(self, difference: TopicDifference) -> None:
        if len(self.differences) < MAX_DIFFERENCES:
            self.differences.append(difference)
        else:
            self.uncounted += 1

    async def compare(self, dsns: Mapping[str, str], topics: Mapping[str, str],
                      stored: Mapping[str, bytes] | None = None) -> list[TopicDifference]:
        """Compare with each service's store (``dsns``); ``topics`` names each service's topic.
        ``stored``: each store's digests up to its head (``store_digests``, computed meanwhile
        by ``StoreDigests``); read here otherwise. The differences: those met while reading,
        then by service and position."""
        for service in self.services:
            mine = stored[service] if stored is not None else await digests_of_store(
                dsns[service], service, self.heads[service])
            await self._compare_one(dsns[service], service, topics[service], mine)
        return self.differences

    async def _compare_one(self, dsn: str, service: str, topic: str, stored: bytes) -> None:
        slots, published = self.slots[service], self.published[service]
        if len(stored) != len(slots):
            raise ValueError(f"the digests of {service}'s store are not those of its head")
        view, theirs = memoryview(slots), memoryview(stored)
        found: list[tuple[int, str, str]] = []  # position, problem, detail
        for start in range(0, len(slots), _CHUNK):
            if view[start:start + _CHUNK] == theirs[start:start + _CHUNK]:
                continue  # nearly always: every event there on the topic, as stored
            for at in range(start, min(start + _CHUNK, len(slots)), DIGEST):
                seen, event = view[at:at + DIGEST], theirs[at:at + DIGEST]
                position = at // DIGEST + 1
                if seen == event:
                    continue
                if seen == _EMPTY:
                    if position <= published:
                        found.append((position, "missing_from_topic",
                                      f"published (checkpoint {published}) but not on {topic}"))
                elif event == _EMPTY:
                    found.append((position, "not_in_store", f"on {topic}, but not in the store"))
                else:
                    found.append((position, "differs_from_store", f"the record on {topic} "
                                  "at this position is not the stored event"))
        ids = await _event_ids(dsn, [p for p, _, _ in found[:MAX_DIFFERENCES]])
        for position, problem, detail in found:
            self._differ(TopicDifference(service, position, ids.get(position), problem, detail))
        aside = self.aside[service]
        later = await _digests_at(dsn, service,
                                  sorted({p for p, _, _ in aside if p * DIGEST > len(stored)}))
        for position, mine, event_id in sorted(aside):
            at = (position - 1) * DIGEST
            event = bytes(theirs[at:at + DIGEST]) if at < len(stored) else later.get(position)
            if event is None or event == _EMPTY:
                self._differ(TopicDifference(service, position, event_id or None,
                                             "not_in_store", f"on {topic}, but not in the store"))
            elif mine != event:
                self._differ(TopicDifference(
                    service, position, event_id or None, "differs_from_store",
                    f"the record on {topic} at this position is not the stored event"))


async def digests_of_store(dsn: str, service: str, upto: int, *, batch: int = 5000
                           ) -> bytearray:
    """The digest of every event of ``service``'s store up to position ``upto``, 16 bytes
    each at (position - 1) * 16 (zeros where a position is missing)."""
    digests = bytearray(DIGEST * upto)
    source = _source(service)
    pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                            readonly=True):
            async for row in conn.cursor(_ROWS, upto, prefetch=batch):
                at = (row[0] - 1) * DIGEST
                digests[at:at + DIGEST] = _digest_of_row(*row[1:], source)
    finally:
        await pool.close()
    return digests


async def _digests_at(dsn: str, service: str, positions: list[int]) -> dict[int, bytes]:
    """The digests of the events at ``positions`` (those past the head read at the start)."""
    if not positions:
        return {}
    source = _source(service)
    pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn:
            rows = await conn.fetch(_ROWS_AT, positions)
    finally:
        await pool.close()
    return {row[0]: _digest_of_row(*row[1:], source) for row in rows}


async def _event_ids(dsn: str, positions: list[int]) -> dict[int, str]:
    """The stored events' ids at ``positions``, to name them in the differences."""
    if not positions:
        return {}
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT position, event_id FROM events "
                                "WHERE position = any($1::bigint[])", positions)
    finally:
        await conn.close()
    return {row[0]: str(row[1]) for row in rows}


def store_digests(dsns: Mapping[str, str], heads: Mapping[str, tuple[int, int]]
                  ) -> dict[str, bytes]:
    """``digests_of_store`` of each store up to its head: what ``StoreDigests`` runs."""
    async def all_of_them() -> dict[str, bytes]:
        return {s: bytes(await digests_of_store(dsn, s, heads[s][1]))
                for s, dsn in dsns.items()}
    return asyncio.run(all_of_them())


class StoreDigests:
    """``store_digests`` in a process of its own, started before the topics are read: the
    stores are read and digested (~5 us an event, mostly encoding each event's body as the
    relay does) while the topics are, instead of after."""

    def __init__(self, dsns: Mapping[str, str], heads: Mapping[str, tuple[int, int]]) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        self._future = self._pool.submit(store_digests, dict(dsns), dict(heads))

    def result(self) -> dict[str, bytes]:
        return self._future.result()

    def close(self) -> None:
        self._future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> StoreDigests:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def stored_digest(event: StoredEvent, service: str) -> bytes:
    """The digest of a stored event as its relay publishes it: its ``COVERED`` headers as
    ``StoredEvent.kafka_headers`` writes them, and its body (tests hold the two together)."""
    return _digest_of_row(event.event_id, event.stream_id, event.version, event.event_type,
                          event.schema_version, event.data, event.recorded_at,
                          _source(service))


def _source(service: str) -> bytes:
    return f"/songji/{service}".encode()  # ``StoredEvent._attributes``' source


def _digest_of_row(event_id: object, stream_id: str, version: int, event_type: str,
                   schema_version: int, data: dict[str, Any], recorded_at: datetime,
                   source: bytes) -> bytes:
    parts = (str(event_id).encode(), source, event_type.encode(), stream_id.encode(),
             recorded_at.isoformat().encode(), str(schema_version).encode(),
             str(version).encode())
    return _blake2b(_marshal((parts, kafka_value(data)), 2), digest_size=DIGEST).digest()


async def store_heads(dsns: Mapping[str, str], topics: Mapping[str, str]
                      ) -> dict[str, tuple[int, int]]:
    """Each store's (published, last position): what its relay's checkpoint for its topic
    says it published, and its head. Read before the topics (they size the image)."""
    heads = {}
    for service, dsn in dsns.items():
        conn = await asyncpg.connect(dsn)
        try:
            published = await conn.fetchval(
                "SELECT coalesce(max(position), 0) FROM relay_checkpoint WHERE topic = $1",
                topics[service])
            last = await conn.fetchval("SELECT last_position FROM event_head WHERE id = 1")
            heads[service] = (published or 0, last or 0)
        finally:
            await conn.close()
    return heads


_Layout = tuple["Callable[[Sequence[bytes | None]], tuple[bytes | None, ...]] | None",
                "int | None", "int | None"]


def _layout(names: Sequence[str]) -> _Layout:
    """For records with these header names: a getter of the ``COVERED`` values (absent ones
    as None), and where ``ce_position`` and ``ce_id`` are. No getter when a name repeats:
    then the values are looked up as a dict would (the last one of a name)."""
    if len(set(names)) != len(names):
        return None, None, None
    where = {name: i for i, name in enumerate(names)}
    absent = len(names)  # the getter reads the values with a None appended
    indexes = [where.get(name, absent) for name in COVERED]
    pick = itemgetter(*indexes)
    if absent in indexes:
        def covered(values: Sequence[bytes | None]) -> tuple[bytes | None, ...]:
            return pick((*values, None))
    else:
        covered = pick
    return covered, where.get("ce_position"), where.get("ce_id")


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode(errors="replace")[:64]
