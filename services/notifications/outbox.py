"""The notices outbox: enqueue inside the inbox transaction, claim, and finish.

Claiming sets a fresh ``claim_token``; finishing only counts when the token is still ours, so
if a slow sender's claim was taken over, only one of them records the outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.notifications.domain.model import (
    CANCELLED_BY_WITHDRAWAL,
    CANCELLED_WHEN_LEFT,
    Planned,
    resolve_gender,
)
from shared.contracts import Envelope

_COLUMNS = ("notification_id, source_event_id, source_event_type, correlation_id, "
            "recipient_kind, recipient_id, kind, ref, params, urgent, not_before, expires_at, "
            "worker_id, class_id, awaits_worker_id, state")


async def enqueue(conn: asyncpg.Connection, envelope: Envelope, planned: Iterable[Planned],
                  genders: dict[str, str | None]) -> int:
    """Insert each planned notice once; women's-federation notices wait for the gender.

    ``genders`` maps the worker ids the caller looked up to their gender (None: not seen).
    Returns how many rows were new.
    """
    rows: list[tuple[Any, ...]] = []
    for p in planned:
        state, awaits = "pending", None
        decision = resolve_gender(p, genders.get(p.only_if_female or ""))
        if decision is None:
            continue
        if decision == "wait":
            state, awaits = "awaiting_gender", p.only_if_female
        source_id, source_type = p.about or (envelope.id, envelope.type)
        rows.append((uuid.uuid4(), source_id, source_type, envelope.correlation_id,
                     p.recipient.kind, p.recipient.id, str(p.kind), p.ref, dict(p.params),
                     p.urgent, p.not_before, p.expires_at, p.worker_id, p.class_id, awaits,
                     state))
    # In (kind, state) byte order, the order in which the counting trigger locks a statement's
    # counts (migrations/0005_paged_reads.sql): this transaction then takes them in the same
    # order as any other, and two cannot deadlock on them.
    rows.sort(key=lambda row: (row[6].encode(), row[15].encode()))
    new = 0
    for row in rows:
        inserted = await conn.fetchval(
            f"INSERT INTO notifications ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
            "$9, $10, $11, $12, $13, $14, $15, $16) "
            "ON CONFLICT (source_event_id, recipient_id, kind, ref) DO NOTHING RETURNING true",
            *row)
        new += bool(inserted)
    return new


async def release_awaiting(conn: asyncpg.Connection, worker_id: str, gender: str) -> None:
    """The worker's registration arrived: women's notices go ahead, the others are dropped."""
    await conn.execute(
        "UPDATE notifications SET state = $2, awaits_worker_id = NULL, "
        "finished_at = CASE WHEN $2 = 'dropped' THEN now() END "
        "WHERE state = 'awaiting_gender' AND awaits_worker_id = $1",
        worker_id, "pending" if gender == "female" else "dropped")


async def cancel_for_withdrawal(conn: asyncpg.Connection, worker_id: str, class_id: str) -> int:
    status = await conn.execute(
        "UPDATE notifications SET state = 'cancelled', finished_at = now() "
        "WHERE worker_id = $1 AND class_id = $2 AND kind = ANY($3::text[]) "
        "AND state IN ('pending', 'awaiting_gender')",
        worker_id, class_id, sorted(CANCELLED_BY_WITHDRAWAL))
    return int(status.split()[-1])


async def cancel_follow_ups(conn: asyncpg.Connection, worker_id: str, referral_id: str,
                            month: int | None) -> int:
    """A placement's follow-up reminders and tasks (refs ``<referral>/<month>``) not sent yet
    are cancelled: that month's once it is recorded, every month's (None) once the worker
    left."""
    refs = f"{referral_id}/{'%' if month is None else month}"
    status = await conn.execute(
        "UPDATE notifications SET state = 'cancelled', finished_at = now() "
        "WHERE worker_id = $1 AND ref LIKE $2 AND kind = ANY($3::text[]) "
        "AND state IN ('pending', 'awaiting_gender')",
        worker_id, refs, sorted(CANCELLED_WHEN_LEFT))
    return int(status.split()[-1])


@dataclass(frozen=True, slots=True)
class Due:
    notification_id: uuid.UUID
    claim_token: uuid.UUID
    source_event_id: uuid.UUID
    source_event_type: str
    correlation_id: str
    recipient_kind: str
    recipient_id: str
    kind: str
    params: dict[str, Any]
    urgent: bool
    expires_at: datetime | None
    attempts: int


async def claim_due(pool: asyncpg.Pool, now: datetime, *, limit: int,
                    claim_timeout: timedelta) -> list[Due]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """UPDATE notifications n SET state = 'claimed', claimed_at = $1,
                      claim_token = gen_random_uuid()
               WHERE n.notification_id IN (
                   SELECT notification_id FROM notifications
                   WHERE (state = 'pending' AND not_before <= $1)
                      OR (state = 'claimed' AND claimed_at < $2)
                   ORDER BY not_before LIMIT $3 FOR UPDATE SKIP LOCKED)
               RETURNING notification_id, claim_token, source_event_id, source_event_type,
                         correlation_id, recipient_kind, recipient_id, kind, params, urgent,
                         expires_at, attempts""",
            now, now - claim_timeout, limit)
    return [Due(**dict(r)) for r in rows]


async def record_attempt(pool: asyncpg.Pool, notification_id: uuid.UUID, *, channel: str | None,
                         outcome: str, error_code: str | None, started_at: datetime,
                         finished_at: datetime, counts: bool = True) -> int:
    """Log one attempt (committed at once, whatever happens next); the attempt's number."""
    async with pool.acquire() as conn, conn.transaction():
        attempt = await conn.fetchval(
            "UPDATE notifications SET attempts = attempts + $2 WHERE notification_id = $1 "
            "RETURNING attempts", notification_id, 1 if counts else 0)
        await conn.execute(
            "INSERT INTO delivery_attempts (notification_id, attempt, channel, outcome, "
            "error_code, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            notification_id, attempt, channel, outcome, error_code, started_at, finished_at)
        return attempt


async def delivered_attempt(pool: asyncpg.Pool, notification_id: uuid.UUID) -> int | None:
    """The attempt that already delivered this notice, if the log has one."""
    async with pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT attempt FROM delivery_attempts WHERE notification_id = $1 "
            "AND outcome = 'delivered' ORDER BY attempt_id LIMIT 1", notification_id)


async def defer(pool: asyncpg.Pool, due: Due, until: datetime) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE notifications SET state = 'pending', not_before = $3, claim_token = NULL, "
            "claimed_at = NULL WHERE notification_id = $1 AND claim_token = $2",
            due.notification_id, due.claim_token, until)


async def finish(conn: asyncpg.Connection, due: Due, *, state: str, channel: str | None,
                 outcome: str | None, at: datetime) -> bool:
    """Close a claimed notice; False when the claim is no longer ours."""
    done = await conn.fetchval(
        "UPDATE notifications SET state = $3, channel = $4, outcome = $5, finished_at = $6, "
        "claim_token = NULL WHERE notification_id = $1 AND claim_token = $2 "
        "AND state = 'claimed' RETURNING true",
        due.notification_id, due.claim_token, state, channel, outcome, at)
    return bool(done)
