"""Integrators' webhooks: registration, fan-out of consumed events, and signed delivery.

Each consumed event of a type a webhook chose becomes one row in ``webhook_deliveries``, in
the inbox transaction (unique per webhook and event: redelivery adds nothing). A background
job POSTs each as a structured-mode CloudEvent signed with the webhook's secret, logging every
attempt. 2xx: delivered. 408, 429, 5xx, no answer or no answer in time: retried later, at a
time written in the row (backoff with a cap), until ``delivery_attempts`` are used up. A
redirect or another 4xx: failed at once (the receiver refuses it; retrying will not change its
mind). A receiver that is not allowed (``domain/receivers.py``) is refused at registration and
again before every connection, and each attempt is bounded in time and in what it reads
(``receiver_http.py``). Attempts run concurrently, a few per receiver at most, so one slow
receiver holds no other.

The secret (``whsec_`` and base64, as Standard Webhooks has it) is generated here and returned
once, or given by the integrator at registration. It has to be usable for signing, so it cannot
be stored as a hash like a password; it is stored encrypted with a key the database does not
hold (``SONGJI_WEBHOOK_SECRET_KEY``), so a copy of the database alone cannot forge signatures.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import structlog
from cryptography.fernet import InvalidToken

from services.notifications import backfill, receiver_http
from services.notifications.delivery_errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from services.notifications.domain import webhooks as signing
from services.notifications.domain.receivers import ReceiverPolicy
from services.notifications.settings import NotificationSettings
from shared.contracts import Envelope
from shared.eventsourcing.db import transaction
from shared.runtime.idempotency import Sealer
from shared.runtime.keys import KeyRing, SealedColumn
from shared.runtime.service import ServiceContext

log = structlog.get_logger(__name__)


class WebhookKeyMissing(RuntimeError):
    """SONGJI_WEBHOOK_SECRET_KEY is not configured."""


# Sealed under SONGJI_WEBHOOK_SECRET_KEY: the secrets, and the kept answers of registrations
# (the only answers this service seals), for ``songji keys rotate notifications``.
SEALED = [SealedColumn("webhooks", key="webhook_id", column="secret_sealed"),
          SealedColumn("idempotency_keys", key="jsonb_build_array(org_id, key)",
                       column="body", where="sealed")]


class SecretBox:
    def __init__(self, keys: str) -> None:
        self._ring = KeyRing(keys)

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> SecretBox:
        if settings.webhook_secret_key is None:
            raise WebhookKeyMissing("SONGJI_WEBHOOK_SECRET_KEY is not set")
        return cls(settings.webhook_secret_key.get_secret_value())

    def seal(self, secret: str) -> bytes:
        return self._ring.seal(secret.encode())

    def open(self, sealed: bytes) -> str:
        return self._ring.open(bytes(sealed)).decode()

    def sealer(self) -> Sealer:
        """For the kept answer of a registration (it holds the secret): sealed like it."""
        return self._ring


# -- registry -------------------------------------------------------------------------------

_PUBLIC = "webhook_id, url, event_types, description, registered_by, created_at"


async def register(pool: asyncpg.Pool, box: SecretBox, *, url: str, event_types: list[str],
                   description: str | None, registered_by: str | None,
                   secret: str | None = None, history: backfill.BackfillRange | None = None,
                   conn: asyncpg.Connection | None = None) -> tuple[dict, str]:
    """``secret``: the integrator's own (checked by ``signing.checked_secret``), else a new one.
    ``history``: the past events wanted too, requested as a backfill in the same transaction
    (answered as ``backfill``). ``conn``: a request's transaction holding its Idempotency-Key
    (see api.py)."""
    secret = signing.new_secret() if secret is None else signing.checked_secret(secret)
    async with transaction(pool, conn) as conn:
        row = await conn.fetchrow(
            f"INSERT INTO webhooks (webhook_id, url, event_types, description, secret_sealed, "
            f"registered_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_PUBLIC}",
            uuid.uuid4(), url, sorted(set(event_types)), description, box.seal(secret),
            registered_by)
        requested = None if history is None else await backfill.request(
            conn, row["webhook_id"], history)
    return {**dict(row), "backfill": requested}, secret


async def list_webhooks(pool: asyncpg.Pool, after: tuple[datetime | None, uuid.UUID | None],
                        limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` webhooks after the (created_at, webhook_id) key ``after``."""
    async with pool.acquire() as conn:
        if after[0] is None:
            rows = await conn.fetch(f"SELECT {_PUBLIC} FROM webhooks WHERE deleted_at IS NULL "
                                    "ORDER BY created_at, webhook_id LIMIT $1", limit)
        else:
            rows = await conn.fetch(f"SELECT {_PUBLIC} FROM webhooks WHERE deleted_at IS NULL "
                                    "AND (created_at, webhook_id) > ($1, $2) "
                                    "ORDER BY created_at, webhook_id LIMIT $3", *after, limit)
    return [dict(r) for r in rows]


async def get_webhook(pool: asyncpg.Pool, webhook_id: uuid.UUID) -> dict[str, Any] | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT {_PUBLIC} FROM webhooks "
                                  "WHERE webhook_id = $1 AND deleted_at IS NULL", webhook_id)
    return dict(row) if row else None


async def delete_webhook(pool: asyncpg.Pool, webhook_id: uuid.UUID,
                         conn: asyncpg.Connection | None = None) -> bool:
    """Soft delete (the delivery log keeps pointing at it); undelivered events are cancelled.
    ``conn``: a request's transaction holding its Idempotency-Key (see api.py)."""
    async with transaction(pool, conn) as conn:
        done = await conn.fetchval(
            "UPDATE webhooks SET deleted_at = now() WHERE webhook_id = $1 "
            "AND deleted_at IS NULL RETURNING true", webhook_id)
        if done:  # an attempt in flight is logged, but does not change its state again
            await backfill.cancel(conn, webhook_id)
            await conn.execute(
                "UPDATE webhook_deliveries SET state = 'cancelled', finished_at = now() "
                "WHERE webhook_id = $1 AND state IN ('pending', 'claimed')", webhook_id)
    return bool(done)


async def deliveries(pool: asyncpg.Pool, webhook_id: uuid.UUID,
                     after: tuple[datetime | None, uuid.UUID | None],
                     limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` deliveries after the (created_at, delivery_id) key ``after``, each with
    its attempts: the page is chosen on webhook_deliveries_in_order first, then its attempts
    are read, so a page costs its own rows whatever the webhook's history."""
    cursor = "" if after[0] is None else "AND (created_at, delivery_id) > ($3, $4)"
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT d.delivery_id, d.event_id, d.event_type, d.backfill_id, d.state,
                      d.attempts,
                      d.last_status, d.created_at, d.finished_at,
                      CASE WHEN d.state = 'pending' THEN d.not_before END AS next_attempt_at,
                      coalesce(a.attempt_log, '[]') AS attempt_log
               FROM (SELECT * FROM webhook_deliveries WHERE webhook_id = $1 {cursor}
                     ORDER BY created_at, delivery_id LIMIT $2) d
               LEFT JOIN LATERAL (
                   SELECT json_agg(json_build_object(
                              'attempt', attempt, 'outcome', outcome,
                              'status_code', status_code, 'error_code', error_code,
                              'started_at', started_at, 'finished_at', finished_at)
                              ORDER BY attempt_id) AS attempt_log
                   FROM webhook_attempts WHERE delivery_id = d.delivery_id) a ON true
               ORDER BY d.created_at, d.delivery_id""",
            webhook_id, limit, *([] if after[0] is None else after))
    return [dict(r) for r in rows]


# -- fan-out, inside the inbox transaction ---------------------------------------------------

async def fan_out(conn: asyncpg.Connection, envelope: Envelope, _event: Any) -> None:
    """One delivery row per active webhook that chose this event type."""
    await conn.execute(
        """INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, event_type,
                                           cloudevent, state)
           SELECT gen_random_uuid(), webhook_id, $1, $2, $3, 'pending' FROM webhooks
           WHERE deleted_at IS NULL AND $2 = ANY(event_types)
           ON CONFLICT (webhook_id, event_id) DO NOTHING""",
        envelope.id, envelope.type, signing.structured_event(envelope))


# -- delivery --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DueDelivery:
    delivery_id: uuid.UUID
    claim_token: uuid.UUID
    webhook_id: uuid.UUID
    url: str
    secret_sealed: bytes
    cloudevent: dict[str, Any]
    attempts: int


Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


# The due deliveries of each active webhook, oldest first, at most ``$4`` in flight per webhook
# (counting the fresh claims already out), ``$3`` in all. A claim older than ``$2`` was left by
# a sender that died: it is taken over. A row is only ever claimed once due, so a claimed row's
# ``not_before`` is before its claim, and ``not_before <= $1`` holds for both kinds: the index
# scan stops at the first later retry. A backfilled delivery waits while an earlier one of its
# stream in the same backfill is pending or in flight (in order per stream, retries or not).
_CLAIM = """
WITH due AS (
    SELECT d.delivery_id, d.not_before, d.created_at
    FROM webhooks w CROSS JOIN LATERAL (
        SELECT x.delivery_id, x.not_before, x.created_at FROM webhook_deliveries x
        WHERE x.webhook_id = w.webhook_id AND x.not_before <= $1
          AND (x.state = 'pending' OR (x.state = 'claimed' AND x.claimed_at < $2))
          AND (x.backfill_id IS NULL OR NOT EXISTS (
              SELECT 1 FROM webhook_deliveries e
              WHERE e.backfill_id = x.backfill_id AND e.stream = x.stream
                AND e.backfill_seq < x.backfill_seq AND e.state IN ('pending', 'claimed')))
        ORDER BY x.not_before, x.created_at
        LIMIT greatest(0, $4 - (SELECT count(*) FROM webhook_deliveries
                                WHERE webhook_id = w.webhook_id AND state = 'claimed'
                                  AND claimed_at >= $2))
        FOR UPDATE SKIP LOCKED) d
    WHERE w.deleted_at IS NULL
    ORDER BY d.not_before, d.created_at LIMIT $3)
UPDATE webhook_deliveries d SET state = 'claimed', claimed_at = $1,
       claim_token = gen_random_uuid()
FROM due, webhooks w
WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
RETURNING d.delivery_id, d.claim_token, d.webhook_id, w.url, w.secret_sealed, d.cloudevent,
          d.attempts"""


_CLAIM_LOCK = "notifications.webhook-claims"


class WebhookDispatcher:
    """Keeps up to ``sender_concurrency`` attempts in flight, each its own task: a new one is
    claimed as soon as one ends, so a receiver that takes its whole deadline delays only the
    deliveries queued behind it (at most ``webhook_concurrency_per_receiver`` of them at once)."""

    def __init__(self, pool: asyncpg.Pool, settings: NotificationSettings, *,
                 client: httpx.AsyncClient, policy: ReceiverPolicy, clock: Clock = _now) -> None:
        self.pool, self.settings, self.client, self.clock = pool, settings, client, clock
        self.policy = policy
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.claim_and_start()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook round failed")
                await self._wait()
        finally:  # stopping: attempts in flight are abandoned; their claims time out
            for task in self._in_flight:
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def claim_and_start(self) -> int:
        """Claim what is due, as far as there are free slots, and start delivering it."""
        free = self.settings.sender_concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        now = self.clock()
        stale = now - timedelta(seconds=self.settings.claim_timeout_seconds)
        async with self.pool.acquire() as conn, conn.transaction():
            # One claim at a time among the service's copies: each counts the claims the
            # others made (committed before it got the lock), so a receiver never gets more
            # than its share in flight, however many copies deliver.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               _CLAIM_LOCK)
            rows = await conn.fetch(_CLAIM, now, stale, free,
                                    self.settings.webhook_concurrency_per_receiver)
        for row in rows:
            task = asyncio.create_task(self._guarded(DueDelivery(**dict(row))))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(rows)

    async def _wait(self) -> None:
        """Until an attempt ends (a slot is free) or the poll interval passes."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.settings.sender_poll_seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(self.settings.sender_poll_seconds)

    async def _guarded(self, due: DueDelivery) -> None:
        try:
            await self.deliver(due)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not stop the others; the claim times out
            log.exception("webhook delivery crashed", delivery_id=str(due.delivery_id))

    async def deliver(self, due: DueDelivery) -> None:
        """One attempt, then: delivered, failed, or pending again at a later time."""
        try:
            secret = SecretBox.from_settings(self.settings).open(due.secret_sealed)
        except (WebhookKeyMissing, InvalidToken):
            await self._close(due, "failed", None, None)
            log.error("webhook secret cannot be opened", webhook_id=str(due.webhook_id))
            return
        started = self.clock()
        status, error = await self._attempt(due, secret, signing.encode(due.cloudevent))
        attempt = await self._record(due, started, status, error)
        ids = {"delivery_id": str(due.delivery_id), "webhook_id": str(due.webhook_id)}
        if error is None:
            log.info("webhook delivered", **ids, event_type=due.cloudevent.get("type"))
        elif error.retry and attempt < self.settings.delivery_attempts:
            log.info("webhook attempt failed; retry scheduled", **ids, error=error.code,
                     attempt=attempt)
        else:
            log.warning("webhook delivery failed", **ids, error=error.code, attempt=attempt)

    async def _attempt(self, due: DueDelivery, secret: str,
                       body: bytes) -> tuple[int | None, DeliveryError | None]:
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": signing.STRUCTURED_CONTENT_TYPE,
            **signing.standard_headers(secret, str(due.delivery_id), timestamp, body),
            signing.TIMESTAMP_HEADER: str(timestamp),
            signing.SIGNATURE_HEADER: signing.signature(secret, timestamp, body),
            signing.DELIVERY_HEADER: str(due.delivery_id),
            signing.WEBHOOK_HEADER: str(due.webhook_id),
        }
        try:
            status = await receiver_http.post(
                self.client, self.policy, due.url, body=body, headers=headers,
                deadline=self.settings.webhook_deadline_seconds)
        except receiver_http.ReceiverRefused as exc:
            return None, PermanentDeliveryError(f"receiver_refused:{exc.reason}")
        except TimeoutError:
            return None, TransientDeliveryError("deadline_exceeded")
        except httpx.TransportError as exc:
            return None, TransientDeliveryError(f"unreachable:{type(exc).__name__}")
        except httpx.InvalidURL:
            return None, PermanentDeliveryError("invalid_url")
        if status in (408, 429) or status >= 500:
            return status, TransientDeliveryError(f"status:{status}")
        if not 200 <= status < 300:
            return status, PermanentDeliveryError(f"status:{status}")
        return status, None

    async def _record(self, due: DueDelivery, started: datetime, status: int | None,
                      error: DeliveryError | None) -> int:
        """Log the attempt and move the delivery on, in one transaction. Answers the attempt's
        number."""
        finished = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            attempt = await conn.fetchval(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2 "
                "WHERE delivery_id = $1 RETURNING attempts", due.delivery_id, status)
            await conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, outcome, status_code, "
                "error_code, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                due.delivery_id, attempt,
                "delivered" if error is None else (
                    "transient_error" if error.retry else "permanent_error"),
                status, None if error is None else error.code, started, finished)
            if error is None:
                await self._close(due, "delivered", status, conn)
            elif error.retry and attempt < self.settings.delivery_attempts:
                wait = signing.retry_delay(
                    attempt, first_seconds=self.settings.delivery_backoff_seconds,
                    cap_seconds=self.settings.delivery_backoff_max_seconds)
                await conn.execute(
                    "UPDATE webhook_deliveries SET state = 'pending', not_before = $3, "
                    "claim_token = NULL, claimed_at = NULL "
                    "WHERE delivery_id = $1 AND claim_token = $2 AND state = 'claimed'",
                    due.delivery_id, due.claim_token, finished + wait)
            else:
                await self._close(due, "failed", status, conn)
        return attempt

    async def _close(self, due: DueDelivery, state: str, status: int | None,
                     conn: asyncpg.Connection | None) -> None:
        """End the delivery, if this claim still holds it (not cancelled, not taken over)."""
        async with transaction(self.pool, conn) as conn:
            await conn.execute(
                "UPDATE webhook_deliveries SET state = $3, finished_at = $4, claim_token = NULL "
                "WHERE delivery_id = $1 AND claim_token = $2 AND state = 'claimed'",
                due.delivery_id, due.claim_token, state, self.clock())


async def deliver_webhooks(ctx: ServiceContext[NotificationSettings]) -> None:
    """ServiceSpec background job: deliver due webhook events until cancelled."""
    settings = ctx.settings
    policy = ReceiverPolicy(allow_local=settings.webhook_allow_local)
    async with receiver_http.receiver_client(policy) as client:
        await WebhookDispatcher(ctx.pool, settings, client=client, policy=policy).run()
