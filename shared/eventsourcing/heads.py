"""Sealed heads: a store's chain head signed by its service and published outside its database.

The hash chain proves that no event was edited *unless* the editor recomputed the chain and
the head too, which anyone who can write to the database can. So each service, every
``interval`` seconds when its head moved (and when it stops), signs its head (position, chain
hash, time) with its Ed25519 key and publishes it to ``<prefix>.<service>.heads``. The auditor
(``songji audit verify``) reads the seals, keeps those that verify under the service's public
key, and checks that the store's chain has each sealed hash at its sealed position: a chain
recomputed inside the database differs from the seals published before the edit, and a store
shorter than its latest seal was truncated.

What a seal does not cover: events appended after the latest seal (until the next one), and
anyone who holds the service's private key (they can seal a recomputed chain).

A seal on the topic: key = the service's name, value = canonical JSON of ``SealedHead``
(``payload``), header ``songji_signature`` = the Ed25519 signature (URL-safe base64) of
``songji-sealed-head-v1\n`` followed by the value. The prefix keeps the service's one key
from signing anything that could pass for something else (an events root is signed under
its own prefix, ``shared.eventsourcing.authenticity``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.eventsourcing.hashing import canonical_json
from shared.eventsourcing.signing import BadSignature, PublicKeys, SigningKey
from shared.eventsourcing.store import utc_now
from shared.eventsourcing.topics import heads_topic

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "songji_signature"
SEAL_DOMAIN = b"songji-sealed-head-v1\n"  # what the signature is of: this, then the value
MAX_SEAL_BYTES = 1024  # a seal is ~200 bytes; anything larger on the topic is not one
MAX_SEALS = 1_000_000  # kept per service when read (~100 bytes each): a seal a minute, 2 years


@dataclass(frozen=True)
class SealedHead:
    service: str
    position: int
    chain_hash: bytes
    sealed_at: datetime

    def payload(self) -> bytes:
        """What is signed and published: canonical JSON, so both ends agree on the bytes."""
        return canonical_json({"service": self.service, "position": self.position,
                               "hash": self.chain_hash.hex(),
                               "sealed_at": self.sealed_at.isoformat()})

    @classmethod
    def from_payload(cls, value: bytes) -> SealedHead:
        """Raise ValueError when ``value`` is not a seal's payload."""
        if len(value) > MAX_SEAL_BYTES:
            raise ValueError("too large for a seal")
        try:
            raw: Any = json.loads(value)
            head = cls(service=str(raw["service"]), position=int(raw["position"]),
                       chain_hash=bytes.fromhex(raw["hash"]),
                       sealed_at=datetime.fromisoformat(raw["sealed_at"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a sealed head: {exc}") from None
        if head.position < 0 or head.sealed_at.utcoffset() is None:
            raise ValueError("not a sealed head: a negative position or a naive time")
        return head


def seal(key: SigningKey, head: SealedHead) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of a seal on the heads topic."""
    value = head.payload()
    return value, [(SIGNATURE_HEADER, base64.urlsafe_b64encode(key.sign(SEAL_DOMAIN + value)))]


def open_seal(keys: PublicKeys, service: str, value: bytes | None,
              headers: Iterable[tuple[str, bytes | None]]) -> SealedHead:
    """The seal in a record of ``service``'s heads topic; BadSignature unless ``service``'s
    key signed it (and it names ``service``), ValueError when it is not a seal at all."""
    signature = dict(headers).get(SIGNATURE_HEADER)
    if not value or not signature:
        raise ValueError("not a sealed head: no value or no signature")
    try:
        raw_signature = base64.urlsafe_b64decode(signature)
    except (ValueError, binascii.Error):
        raise BadSignature("the seal's signature is not base64") from None
    keys.verify(service, SEAL_DOMAIN + value, raw_signature)
    head = SealedHead.from_payload(value)
    if head.service != service:
        raise BadSignature(f"a seal of {head.service} on {service}'s heads topic")
    return head


async def read_head(pool: asyncpg.Pool) -> tuple[int, bytes]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT last_position, last_hash FROM event_head WHERE id = 1")
    return row["last_position"], bytes(row["last_hash"])


class HeadSealer:
    """Seals the store's head every ``interval`` seconds when it moved, and once more when
    stopped. Outages of the database or the broker are logged and the next turn tries again
    (a seal is an assurance, not part of the write path: nothing waits for it)."""

    def __init__(self, pool: asyncpg.Pool, *, service: str, key: SigningKey,
                 bootstrap_servers: str, topic: str, interval: float = 30.0,
                 client_options: Mapping[str, Any] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.pool, self.service, self.key = pool, service, key
        self.bootstrap_servers, self.topic, self.interval = bootstrap_servers, topic, interval
        self.client_options = dict(client_options or {})
        self.clock = clock
        self.sealed: SealedHead | None = None  # the last one published
        self._producer: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                await self.seal_if_moved()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval)
            await self.seal_if_moved()  # the head as it is when the service stops
        finally:
            await self._close()

    def stop(self) -> None:
        self._stopping.set()

    def resume(self) -> None:
        """Undo ``stop`` before running again (a copy of the service that leads again)."""
        self._stopping.clear()

    async def seal_if_moved(self) -> SealedHead | None:
        """Publish a seal of the current head unless it was sealed already; the seal, or
        None when there was nothing new (or it could not be published: logged)."""
        try:
            position, chain_hash = await read_head(self.pool)
            if position == 0 or (self.sealed is not None and self.sealed.position == position
                                 and self.sealed.chain_hash == chain_hash):
                return None
            head = SealedHead(self.service, position, chain_hash, self.clock())
            value, headers = seal(self.key, head)
            producer = await self._connect()
            await asyncio.wait_for(producer.send_and_wait(
                self.topic, value, key=self.service.encode(), headers=headers), 30)
        # InterfaceError, InternalClientError: a connection lost or closing under the call
        except (TimeoutError, KafkaError, OSError, asyncpg.PostgresError,
                asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
            log.warning("sealing the head failed, retrying next turn", topic=self.topic,
                        error=repr(exc))
            await self._close()
            return None
        self.sealed = head
        log.info("head sealed", topic=self.topic, position=position)
        return head

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all",
                                        enable_idempotence=False, **self.client_options)
            await producer.start()
            self._producer = producer
        return self._producer

    async def _close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None


@dataclass
class Seals:
    """What the heads topics hold for one service: the seals that verify, by position; those
    that verify but seal another hash at a position already sealed (a chain is never sealed
    two ways, unless the key was used by someone else: ``verify`` checks them all); and how
    many records did not verify."""

    by_position: dict[int, SealedHead] = field(default_factory=dict)
    conflicting: list[SealedHead] = field(default_factory=list)
    refused: int = 0

    def add(self, head: SealedHead) -> None:
        seen = self.by_position.get(head.position)
        if seen is None:
            if len(self.by_position) >= MAX_SEALS:  # the oldest read goes: bounded memory
                del self.by_position[next(iter(self.by_position))]
            self.by_position[head.position] = head
        elif seen.chain_hash != head.chain_hash and len(self.conflicting) < MAX_SEALS:
            self.conflicting.append(head)

    def hashes(self) -> dict[int, list[bytes]]:
        """Every hash sealed at each position."""
        out = {p: [h.chain_hash] for p, h in self.by_position.items()}
        for head in self.conflicting:
            out.setdefault(head.position, []).append(head.chain_hash)
        return out

    @property
    def latest(self) -> SealedHead | None:
        return self.by_position[max(self.by_position)] if self.by_position else None


async def read_seals(bootstrap: str, prefix: str, services: Iterable[str], keys: PublicKeys,
                     *, idle_ms: int = 1500, client_options: Mapping[str, Any] | None = None
                     ) -> dict[str, Seals]:
    """Every seal on the services' heads topics, from the first offset, until they stay quiet
    for ``idle_ms`` (the broker's end offsets are not trusted, see DESIGN.md)."""
    services = list(services)
    topics = {heads_topic(s, prefix): s for s in services}
    found = {s: Seals() for s in services}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                **dict(client_options or {}))
    await consumer.start()
    try:
        present = [t for t in topics if t in await consumer.topics()]
        if not present:
            return found
        consumer.subscribe(present)
        while batch := await consumer.getmany(timeout_ms=idle_ms, max_records=5000):
            for tp, records in batch.items():
                service = topics[tp.topic]
                seals = found[service]
                for record in records:
                    try:
                        head = open_seal(keys, service, record.value, record.headers or ())
                    except ValueError:  # BadSignature too
                        seals.refused += 1
                        continue
                    seals.add(head)
    finally:
        await consumer.stop()
    return found
