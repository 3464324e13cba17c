"""The inbox: apply an event and record its id in one transaction, so redelivery has no effect.

Delivery from Kafka is at least once; the inbox row and the effect commit together, so the
effect happens exactly once. A message that is not a valid Songji CloudEvent, that its topic's
owning service did not publish (``shared.eventsourcing.authenticity``), or whose handler
keeps failing after bounded retries, goes to the dead-letter topic with the reason and its origin
in headers, and the consumer carries on with the next message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
import structlog
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from shared.contracts import Envelope, Event, InvalidMessage, UnknownEventType, model_for
from shared.contracts.envelope import RawHeaders, readable_headers, text_headers
from shared.eventsourcing.authenticity import Authenticity

log = structlog.get_logger(__name__)

Apply = Callable[[asyncpg.Connection, Envelope, Any], Awaitable[None]]
DeadLetterPublisher = Callable[[bytes | None, bytes | None, dict[str, str]], Awaitable[None]]


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # a valid event this consumer has no handler for
    DEAD_LETTERED = "dead-lettered"


@dataclass(frozen=True, slots=True)
class Origin:
    topic: str
    partition: int
    offset: int
    key: bytes | None


class Inbox:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        consumer: str,
        handlers: Mapping[type[Event], Apply],
        dead_letter: DeadLetterPublisher,
        attempts: int = 3,
        backoff_seconds: float = 0.1,
        authenticity: Authenticity,
    ) -> None:
        self.pool = pool
        self.authenticity = authenticity
        self.consumer = consumer
        self.handlers = {model.ce_type(): apply for model, apply in handlers.items()}
        self.dead_letter = dead_letter
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    @property
    def event_types(self) -> list[str]:
        return sorted(self.handlers)

    async def receive(self, headers: RawHeaders | None, value: bytes | None,
                      origin: Origin) -> Outcome:
        """Handle one message from the bus, given its headers as the record holds them (bytes,
        or None); never raises for a bad message."""
        try:
            text = text_headers(headers)
            envelope = Envelope.from_kafka(text, value)
            self.authenticity.check(text, value, origin.topic)  # before anything is applied
            apply = self.handlers.get(envelope.type)
            if apply is None:
                model_for(envelope.type)  # unknown to every contract -> dead letter
                return Outcome.IGNORED
            event = envelope.event()
        except (InvalidMessage, UnknownEventType) as exc:
            reason = f"unknown event type {exc}" if isinstance(exc, UnknownEventType) else str(exc)
            await self._dead_letter(headers, value, origin, reason)
            return Outcome.DEAD_LETTERED

        structlog.contextvars.bind_contextvars(
            correlation_id=envelope.correlation_id, event_id=str(envelope.id),
            event_type=envelope.type,
        )
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=self.backoff_seconds, max=5),
                reraise=True,
            ):
                with attempt:
                    applied = await self.apply(envelope, event, apply)
            outcome = Outcome.APPLIED if applied else Outcome.DUPLICATE
            log.info("event consumed", consumer=self.consumer, outcome=outcome.value)
            return outcome
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._dead_letter(headers, value, origin,
                                    f"handler failed {self.attempts} times: {exc!r}")
            return Outcome.DEAD_LETTERED
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id", "event_id", "event_type")

    async def apply(self, envelope: Envelope, event: Event, apply: Apply) -> bool:
        """Record the event id and apply it in one transaction; False if seen before."""
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                """INSERT INTO inbox (consumer, event_id, event_type, source)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
                self.consumer, envelope.id, envelope.type, envelope.source,
            )
            if not inserted:
                return False
            await apply(conn, envelope, event)
            return True

    async def _dead_letter(self, headers: RawHeaders | None, value: bytes | None,
                           origin: Origin, reason: str) -> None:
        log.warning("message dead-lettered", consumer=self.consumer, topic=origin.topic,
                    partition=origin.partition, offset=origin.offset, reason=reason)
        dead_headers = {
            **{k: v for k, v in readable_headers(headers).items() if k.startswith("ce_")},
            "dlq_reason": reason[:2000],
            "dlq_consumer": self.consumer,
            "dlq_origin_topic": origin.topic,
            "dlq_origin_partition": str(origin.partition),
            "dlq_origin_offset": str(origin.offset),
            "dlq_failed_at": datetime.now(UTC).isoformat(),
        }
        await self.dead_letter(origin.key, value, dead_headers)
