"""The inbox: apply an event and record its id in one transaction, so redelivery has no effect.

Delivery from Kafka is at least once; the inbox row and the effect commit together, so the
effect happens exactly once. Only what can never succeed goes to the dead-letter topic, with
the reason and its origin in headers, and the consumer carries on with the next message: a
message that is not a valid Songji CloudEvent, or whose handler keeps failing for a reason of
its own after bounded attempts.

A failure of the infrastructure (the database unreachable, restarting, out of connections, a
lost connection, a timeout, a serialization failure) is not the message's fault: the inbox
waits it out, with a capped exponential backoff and a log line per wait, and tries again,
however long it takes; the message is not acknowledged meanwhile, so the consumer reads
nothing after it, and a consumer killed while it waits gets the message again after restart.
The wait ends at once when the inbox is stopped (``ConsumerStopped``: not acknowledged either).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
import structlog

from shared import tracing
from shared.contracts import Envelope, Event, InvalidMessage, UnknownEventType, model_for
from shared.contracts.envelope import RawHeaders, readable_headers, text_headers
from shared.eventsourcing.authenticity import Authenticity, Forged
from shared.eventsourcing.failures import is_infrastructure_failure

log = structlog.get_logger(__name__)

Apply = Callable[[asyncpg.Connection, Envelope, Any], Awaitable[None]]
DeadLetterPublisher = Callable[[bytes | None, bytes | None, dict[str, str]], Awaitable[None]]


DEAD_LETTER_HEADER_PREFIX = "dlq_"  # the headers a dead letter adds to the record's own


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # a valid event this consumer has no handler for
    DEAD_LETTERED = "dead-lettered"


class DeadLetterReason(StrEnum):
    """Why a message was dead-lettered, in few enough kinds to count by (the full reason is
    in the dead letter's ``dlq_reason`` header)."""

    FORGED = "forged"  # not signed by the owner of the topic it was read from
    INVALID = "invalid"  # not a valid Songji CloudEvent, or its data breaks its contract
    UNKNOWN_TYPE = "unknown_type"  # a type no contract knows
    HANDLER_FAILED = "handler_failed"  # the handler kept failing for a reason of its own


class ConsumerStopped(Exception):
    """The inbox was stopped while it waited out an outage: the message was neither applied
    nor dead-lettered, and must not be acknowledged."""


@dataclass(frozen=True, slots=True)
class Origin:
    topic: str
    partition: int
    offset: int
    key: bytes | None


def _trace_context(headers: Mapping[str, str]) -> Any:
    """Where a consumer's apply sits in the trace: after the hop that brought the record
    (``traceparent``), else after the event's origin (``ce_traceparent``); None when tracing is
    off or the record carries neither."""
    if not tracing.enabled():
        return None
    hop = tracing.context_of(headers)
    if hop is not None:
        return hop
    return tracing.context_of({k: headers[f"ce_{k}"] for k in tracing.TRACE_FIELDS
                               if f"ce_{k}" in headers})


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
        outage_max_wait_seconds: float = 5.0,
    ) -> None:
        self.pool = pool
        self.authenticity = authenticity
        self.consumer = consumer
        self.handlers = {model.ce_type(): apply for model, apply in handlers.items()}
        self.dead_letter = dead_letter
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.outage_max_wait_seconds = outage_max_wait_seconds
        self.outage_waits = 0  # how many times this inbox waited for the infrastructure
        # What became of each message received (by Outcome) and why each dead letter was one
        # (by DeadLetterReason), since the process started: read by the metrics endpoint.
        self.outcomes: Counter[str] = Counter()
        self.dead_letter_reasons: Counter[str] = Counter()
        self._stopping = asyncio.Event()

    @property
    def event_types(self) -> list[str]:
        return sorted(self.handlers)

    async def receive(self, headers: RawHeaders | None, value: bytes | None,
                      origin: Origin) -> Outcome:
        """Handle one message from the bus, given its headers as the record holds them (bytes,
        or None); never raises for a bad message."""
        outcome = await self._receive(headers, value, origin)
        self.outcomes[outcome.value] += 1
        return outcome

    async def _receive(self, headers: RawHeaders | None, value: bytes | None,
                       origin: Origin) -> Outcome:
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
            kind = (DeadLetterReason.UNKNOWN_TYPE if isinstance(exc, UnknownEventType) else
                    DeadLetterReason.FORGED if isinstance(exc, Forged) else
                    DeadLetterReason.INVALID)
            await self._dead_letter(headers, value, origin, reason, kind)
            return Outcome.DEAD_LETTERED

        structlog.contextvars.bind_contextvars(
            correlation_id=envelope.correlation_id, event_id=str(envelope.id),
            event_type=envelope.type,
        )
        try:
            with tracing.span("songji.apply", parent=_trace_context(text), attributes={
                    "songji.consumer": self.consumer, "songji.event_type": envelope.type}):
                applied = await self._apply_waiting_out_outages(envelope, event, apply)
            outcome = Outcome.APPLIED if applied else Outcome.DUPLICATE
            log.info("event consumed", consumer=self.consumer, outcome=outcome.value)
            return outcome
        except (asyncio.CancelledError, ConsumerStopped):
            raise
        except Exception as exc:
            await self._dead_letter(headers, value, origin,
                                    f"handler failed {self.attempts} times: {exc!r}",
                                    DeadLetterReason.HANDLER_FAILED)
            return Outcome.DEAD_LETTERED
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id", "event_id", "event_type")

    def stop(self) -> None:
        """End any wait for the infrastructure now (the waiting message stays unacknowledged)."""
        self._stopping.set()

    async def _apply_waiting_out_outages(self, envelope: Envelope, event: Event,
                                         apply: Apply) -> bool:
        """Apply the event. A failure of the infrastructure is waited out however long it
        lasts; any other failure is tried ``attempts`` times in all, then raised."""
        failures = 0
        outage = 0
        while True:
            try:
                return await self.apply(envelope, event, apply)
            except Exception as exc:
                if is_infrastructure_failure(exc):
                    outage += 1
                    self.outage_waits += 1
                    wait = min(self.outage_max_wait_seconds,
                               max(self.backoff_seconds, 0.01) * 2 ** min(outage - 1, 30))
                    log.warning("infrastructure unavailable; message not acknowledged, "
                                "trying again after a wait", consumer=self.consumer,
                                attempt=outage, wait_seconds=round(wait, 3), error=repr(exc))
                    await self._wait(wait)
                    continue
                failures += 1
                if failures >= self.attempts:
                    raise
                await self._wait(min(5.0, self.backoff_seconds * 2 ** (failures - 1)))

    async def _wait(self, seconds: float) -> None:
        """Sleep, unless the inbox is stopped first (then raise ConsumerStopped)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        if self._stopping.is_set():
            raise ConsumerStopped(self.consumer)

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
                           origin: Origin, reason: str, kind: DeadLetterReason) -> None:
        log.warning("message dead-lettered", consumer=self.consumer, topic=origin.topic,
                    partition=origin.partition, offset=origin.offset, reason=reason)
        dead_headers = {
            # The record's own headers, all of them, so a replay (`songji dlq replay`) puts
            # back what was sent; none that could pass for the dead letter's own.
            **{k: v for k, v in readable_headers(headers).items()
               if not k.startswith(DEAD_LETTER_HEADER_PREFIX)},
            "dlq_reason": reason[:2000],
            "dlq_consumer": self.consumer,
            "dlq_origin_topic": origin.topic,
            "dlq_origin_partition": str(origin.partition),
            "dlq_origin_offset": str(origin.offset),
            "dlq_failed_at": datetime.now(UTC).isoformat(),
        }
        await self.dead_letter(origin.key, value, dead_headers)
        self.dead_letter_reasons[kind.value] += 1
