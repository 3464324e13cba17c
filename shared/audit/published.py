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

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from shared.eventsourcing.db import create_pool

DIGEST = 16
_EMPTY = bytes(DIGEST)
# Which headers the digest covers, in this order, then the body (see ``digest``).
COVERED = ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_time", "ce_schemaversion",
           "ce_streamversion")
MAX_DIFFERENCES = 10_000  # named one by one; beyond this they are only counted
MAX_ASIDE = 100_000  # records kept aside: conflicting or past the store's end when read


@dataclass(frozen=True)
class TopicDifference:
    service: str
    position: int | None  # the store position (None: the record names none)
    event_id: str | None
    problem: str  # "not_in_store" | "differs_from_store" | "missing_from_topic" | "no_position"
    detail: str


def digest(parts: Sequence[bytes | None], value: bytes | None) -> bytes:
    """The digest of a record from its ``COVERED`` header values and its body."""
    h = hashlib.blake2b(digest_size=DIGEST)
    for part in parts:
        if part is None:
            h.update(b"\x00")  # absent, unlike any present value (each is length-prefixed)
        else:
            h.update(len(part).to_bytes(4, "big"))
            h.update(part)
    h.update(value or b"")
    return h.digest()


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
        self.uncounted = 0  # differences past MAX_DIFFERENCES, or records past MAX_ASIDE
        self.records = 0

    def add(self, service: str, names: Sequence[str], values: Sequence[bytes | None],
            value: bytes | None) -> None:
        """One record read from ``service``'s topic."""
        self.records += 1
        headers = dict(zip(names, values, strict=False))
        event_id = _text(headers.get("ce_id"))
        try:
            position = int(headers.get("ce_position") or b"")
        except ValueError:
            position = 0
        if position < 1:
            self._differ(TopicDifference(service, None, event_id, "no_position",
                                         "a record that names no store position"))
            return
        mine = digest([headers.get(name) for name in COVERED], value)
        if position <= self.heads[service]:
            slots, at = self.slots[service], (position - 1) * DIGEST
            seen = bytes(slots[at:at + DIGEST])
            if seen == _EMPTY:
                slots[at:at + DIGEST] = mine
                return
            if seen == mine:  # the same record again
                return
        self._aside(service, position, mine, event_id or "")

    def _aside(self, service: str, position: int, mine: bytes, event_id: str) -> None:
        aside = self.aside[service]
        if any(p == position and d == mine for p, d, _ in aside):
            return
        if sum(len(a) for a in self.aside.values()) >= MAX_ASIDE:
            self._differ(TopicDifference(service, position, event_id or None, "not_compared",
                                         "too many records past the store's end or in "
                                         "conflict to compare them all"))
            return
        aside.append((position, mine, event_id))

    def _differ(self, difference: TopicDifference) -> None:
        if len(self.differences) < MAX_DIFFERENCES:
            self.differences.append(difference)
        else:
            self.uncounted += 1

    async def compare(self, dsns: Mapping[str, str], topics: Mapping[str, str], *,
                      batch: int = 5000) -> list[TopicDifference]:
        """Compare with each service's store (``dsns``); ``topics`` names each service's topic.
        The differences: those met while reading, then by service and position."""
        for service in self.services:
            pool = await create_pool(dsns[service], max_size=1)
            try:
                async with pool.acquire() as conn:
                    await self._compare_one(conn, service, topics[service], batch)
            finally:
                await pool.close()
        return self.differences

    async def _compare_one(self, conn: asyncpg.Connection, service: str, topic: str,
                           batch: int) -> None:
        # Imported here: the store imports the contracts, which the reader side never needs.
        from shared.eventsourcing.store import _COLUMNS, _row_to_event

        aside: dict[int, list[tuple[bytes, str]]] = {}
        for position, mine, event_id in self.aside[service]:
            aside.setdefault(position, []).append((mine, event_id))
        slots, head = self.slots[service], self.heads[service]
        published = self.published[service]
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            last = max([head, *aside]) if aside else head
            cursor = conn.cursor(f"SELECT {_COLUMNS} FROM events WHERE position <= $1 "
                                 "ORDER BY position", last, prefetch=batch)
            expected = 1
            async for row in cursor:
                event = _row_to_event(row)
                position = event.position
                stored = stored_digest(event, service)
                if position <= head:
                    at = (position - 1) * DIGEST
                    seen = bytes(slots[at:at + DIGEST])
                    if seen == _EMPTY:
                        if position <= published:
                            self._differ(TopicDifference(
                                service, position, str(event.event_id), "missing_from_topic",
                                f"published (checkpoint {published}) but not on {topic}"))
                    elif seen != stored:
                        self._differ(TopicDifference(
                            service, position, None, "differs_from_store",
                            f"the record on {topic} at this position is not the stored "
                            f"event {event.event_id}"))
                for mine, event_id in aside.pop(position, ()):
                    if mine != stored:
                        self._differ(TopicDifference(
                            service, position, event_id or None, "differs_from_store",
                            f"the record on {topic} at this position is not the stored "
                            f"event {event.event_id}"))
                expected = position + 1
            for position, records in sorted(aside.items()):  # past the store's end
                for _, event_id in records:
                    self._differ(TopicDifference(
                        service, position, event_id or None, "not_in_store",
                        f"on {topic}, but the store ends at position {expected - 1}"))


def stored_digest(event: object, service: str) -> bytes:
    """The digest of a stored event as its relay publishes it (its headers and body)."""
    headers = dict(event.kafka_headers(service))  # type: ignore[attr-defined]
    return digest([headers.get(name) for name in COVERED],
                  event.kafka_value())  # type: ignore[attr-defined]


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


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode(errors="replace")[:64]
