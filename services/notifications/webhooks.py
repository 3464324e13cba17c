"""Integrators' webhooks: registration, fan-out of consumed events, and signed delivery.

Each consumed event of a type a webhook chose becomes one row in ``webhook_deliveries``, in
the inbox transaction (unique per webhook and event: redelivery adds nothing). A background
job POSTs each as a structured-mode CloudEvent signed with the webhook's secret, retrying with
backoff, logging every attempt. 2xx: delivered. 408, 429, 5xx or no answer: retried. Other
4xx: failed at once (the receiver refuses it; retrying will not change its mind).

The secret is generated here and returned once. It has to be usable for signing, so it cannot
be stored as a hash like a password; it is stored encrypted with a key the database does not
hold (``SONGJI_WEBHOOK_SECRET_KEY``), so a copy of the database alone cannot forge signatures.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import structlog
from cryptography.fernet import InvalidToken
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.notifications.delivery_errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from services.notifications.domain import webhooks as signing
from services.notifications.settings import NotificationSettings
from shared.contracts import Envelope
from shared.eventsourcing.db import transaction
from shared.runtime.idempotency import Sealer
from shared.runtime.keys import KeyRing, SealedColumn

log = structlog.get_logger(__name__)


class WebhookKeyMissing(RuntimeError):
    """SONGJI_WEBHOOK_SECRET_KEY is not configured."""


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


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
                   conn: asyncpg.Connection | None = None) -> tuple[dict, str]:
    """``conn``: a request's transaction holding its Idempotency-Key (see api.py)."""
    secret = new_secret()
    async with transaction(pool, conn) as conn:
        row = await conn.fetchrow(
            f"INSERT INTO webhooks (webhook_id, url, event_types, description, secret_sealed, "
            f"registered_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_PUBLIC}",
            uuid.uuid4(), url, sorted(set(event_types)), description, box.seal(secret),
            registered_by)
    return dict(row), secret


async def list_webhooks(pool: asyncpg.Pool, after: tuple[datetime | None, uuid.UUID | None],
                        limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` webhooks after the (created_at, webhook_id) key ``after``."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT {_PUBLIC} FROM webhooks WHERE deleted_at IS NULL "
                                "AND ($1::timestamptz IS NULL OR (created_at, webhook_id) > "
                                "($1, $2)) ORDER BY created_at, webhook_id LIMIT $3",
                                *after, limit)
    return [dict(r) for r in rows]


async def get_webhook(pool: asyncpg.Pool, webhook_id: uuid.UUID) -> dict[str, Any] | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT {_PUBLIC} FROM webhooks "
                                  "WHERE webhook_id = $1 AND deleted_at IS NULL", webhook_id)
    return dict(row) if row else None


async def delete_webhook(pool: asyncpg.Pool, webhook_id: uuid.UUID) -> bool:
    """Soft delete (the delivery log keeps pointing at it); undelivered events are cancelled."""
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.fetchval(
            "UPDATE webhooks SET deleted_at = now() WHERE webhook_id = $1 "
            "AND deleted_at IS NULL RETURNING true", webhook_id)
        if done:
            await conn.execute(
                "UPDATE webhook_deliveries SET state = 'cancelled', finished_at = now() "
                "WHERE webhook_id = $1 AND state = 'pending'", webhook_id)
    return bool(done)


async def deliveries(pool: asyncpg.Pool, webhook_id: uuid.UUID,
                     after: tuple[datetime | None, uuid.UUID | None],
                     limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` deliveries after the (created_at, delivery_id) key ``after``."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT d.delivery_id, d.event_id, d.event_type, d.state, d.attempts,
                      d.last_status, d.created_at, d.finished_at,
                      coalesce(json_agg(json_build_object(
                          'attempt', a.attempt, 'outcome', a.outcome,
                          'status_code', a.status_code, 'error_code', a.error_code,
                          'started_at', a.started_at, 'finished_at', a.finished_at)
                          ORDER BY a.attempt_id) FILTER (WHERE a.attempt_id IS NOT NULL),
                          '[]') AS attempt_log
               FROM webhook_deliveries d
               LEFT JOIN webhook_attempts a USING (delivery_id)
               WHERE d.webhook_id = $1 AND ($2::timestamptz IS NULL
                     OR (d.created_at, d.delivery_id) > ($2, $3))
               GROUP BY d.delivery_id ORDER BY d.created_at, d.delivery_id LIMIT $4""",
            webhook_id, *after, limit)
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


class WebhookDispatcher:
    def __init__(self, pool: asyncpg.Pool, settings: NotificationSettings, *,
                 client: httpx.AsyncClient, clock: Clock = _now) -> None:
        self.pool, self.settings, self.client, self.clock = pool, settings, client, clock
        self._slots = asyncio.Semaphore(settings.sender_concurrency)

    async def run(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook round failed")
                done = 0
            if done == 0:
                await asyncio.sleep(self.settings.sender_poll_seconds)

    async def run_once(self) -> int:
        now = self.clock()
        timeout = timedelta(seconds=self.settings.claim_timeout_seconds)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """UPDATE webhook_deliveries d SET state = 'claimed', claimed_at = $1,
                          claim_token = gen_random_uuid()
                   FROM webhooks w
                   WHERE w.webhook_id = d.webhook_id AND d.delivery_id IN (
                       SELECT delivery_id FROM webhook_deliveries
                       WHERE (state = 'pending' AND not_before <= $1)
                          OR (state = 'claimed' AND claimed_at < $2)
                       ORDER BY not_before, created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                   RETURNING d.delivery_id, d.claim_token, d.webhook_id, w.url,
                             w.secret_sealed, d.cloudevent, d.attempts""",
                now, now - timeout, self.settings.sender_batch)
        await asyncio.gather(*(self._bounded(DueDelivery(**dict(r))) for r in rows))
        return len(rows)

    async def _bounded(self, due: DueDelivery) -> None:
        async with self._slots:
            try:
                await self.deliver(due)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery crashed", delivery_id=str(due.delivery_id))

    async def deliver(self, due: DueDelivery) -> None:
        try:
            secret = SecretBox.from_settings(self.settings).open(due.secret_sealed)
        except (WebhookKeyMissing, InvalidToken):
            await self._finish(due, "failed", None)
            log.error("webhook secret cannot be opened", webhook_id=str(due.webhook_id))
            return
        body = signing.encode(due.cloudevent)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.settings.delivery_attempts - due.attempts)),
            wait=wait_exponential(multiplier=self.settings.delivery_backoff_seconds,
                                  max=self.settings.delivery_backoff_max_seconds),
            retry=retry_if_exception_type(TransientDeliveryError), reraise=True)
        status: int | None = None
        try:
            async for attempt in retrying:
                with attempt:
                    status = await self._attempt(due, secret, body)
        except DeliveryError as exc:
            await self._finish(due, "failed", getattr(exc, "status", None))
            log.warning("webhook delivery failed", delivery_id=str(due.delivery_id),
                        webhook_id=str(due.webhook_id), error=exc.code)
            return
        await self._finish(due, "delivered", status)
        log.info("webhook delivered", delivery_id=str(due.delivery_id),
                 webhook_id=str(due.webhook_id), event_type=due.cloudevent.get("type"))

    async def _attempt(self, due: DueDelivery, secret: str, body: bytes) -> int:
        started = self.clock()
        timestamp = int(started.timestamp())
        headers = {
            "Content-Type": signing.STRUCTURED_CONTENT_TYPE,
            signing.TIMESTAMP_HEADER: str(timestamp),
            signing.SIGNATURE_HEADER: signing.signature(secret, timestamp, body),
            signing.DELIVERY_HEADER: str(due.delivery_id),
            signing.WEBHOOK_HEADER: str(due.webhook_id),
        }
        status: int | None = None
        error: DeliveryError | None = None
        try:
            response = await self.client.post(due.url, content=body, headers=headers)
            status = response.status_code
            if status in (408, 429) or status >= 500:
                error = TransientDeliveryError(f"status:{status}")
            elif not 200 <= status < 300:
                error = PermanentDeliveryError(f"status:{status}")
        except httpx.TransportError as exc:
            error = TransientDeliveryError(f"unreachable:{type(exc).__name__}")
        except httpx.InvalidURL:
            error = PermanentDeliveryError("invalid_url")
        outcome = "delivered" if error is None else (
            "transient_error" if error.retry else "permanent_error")
        async with self.pool.acquire() as conn, conn.transaction():
            attempt = await conn.fetchval(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2 "
                "WHERE delivery_id = $1 RETURNING attempts", due.delivery_id, status)
            await conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, outcome, status_code, "
                "error_code, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                due.delivery_id, attempt, outcome, status,
                None if error is None else error.code, started, self.clock())
        if error is not None:
            error.status = status  # type: ignore[attr-defined]
            raise error
        assert status is not None
        return status

    async def _finish(self, due: DueDelivery, state: str, status: int | None) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE webhook_deliveries SET state = $3, finished_at = $4, claim_token = NULL "
                "WHERE delivery_id = $1 AND claim_token = $2",
                due.delivery_id, due.claim_token, state, self.clock())


async def deliver_webhooks(ctx: Any) -> None:
    """ServiceSpec background job: deliver due webhook events until cancelled."""
    settings: NotificationSettings = ctx.settings
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds,
                                 follow_redirects=False) as client:
        await WebhookDispatcher(ctx.pool, settings, client=client).run()
