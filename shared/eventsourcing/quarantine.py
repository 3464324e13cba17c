"""The relay's quarantine: events the broker refused for good, kept visible and re-drivable.

A row names the event (its store position, id, stream and type) and why the broker refused
it; the event itself stays in the store, where it always was. Re-driving is asked for here
(by ``songji dlq replay --quarantined``) and done by the service's own relay, which publishes
the event as it publishes every other (same headers, same key) and marks the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.eventsourcing.store import NOTIFY_CHANNEL, StoredEvent

REASON_LIMIT = 2000  # characters of a reason kept


@dataclass(frozen=True, slots=True)
class Quarantined:
    topic: str
    position: int
    event_id: UUID
    stream_id: str
    event_type: str
    reason: str
    attempts: int
    quarantined_at: datetime
    redrive_requested_at: datetime | None
    redriven_at: datetime | None

    @property
    def state(self) -> str:
        if self.redriven_at is not None:
            return "re-driven"
        return "re-drive asked" if self.redrive_requested_at is not None else "quarantined"


async def quarantine(conn: asyncpg.Connection, topic: str, event: StoredEvent,
                     reason: str) -> None:
    """Record (or record again, after a re-drive the broker refused too) a refused event."""
    await conn.execute(
        """INSERT INTO relay_quarantine (topic, position, event_id, stream_id, event_type, reason)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (topic, position) DO UPDATE
           SET reason = EXCLUDED.reason, attempts = relay_quarantine.attempts + 1,
               quarantined_at = now(), redrive_requested_at = NULL, redriven_at = NULL""",
        topic, event.position, event.event_id, event.stream_id, event.event_type,
        reason[:REASON_LIMIT],
    )


async def listed(conn: asyncpg.Connection, *, limit: int, after_position: int = 0,
                 include_redriven: bool = False) -> list[Quarantined]:
    rows = await conn.fetch(
        """SELECT topic, position, event_id, stream_id, event_type, reason, attempts,
                  quarantined_at, redrive_requested_at, redriven_at
           FROM relay_quarantine
           WHERE position > $1 AND ($2 OR redriven_at IS NULL)
           ORDER BY position, topic LIMIT $3""",
        after_position, include_redriven, limit,
    )
    return [Quarantined(**dict(r)) for r in rows]


async def ask_redrive(conn: asyncpg.Connection, positions: list[int] | None) -> int:
    """Ask the relay to publish these quarantined events again (``None``: every one not yet
    re-driven); wakes the relay; returns how many were asked for."""
    asked = await conn.fetchval(
        """WITH asked AS (
               UPDATE relay_quarantine SET redrive_requested_at = now()
               WHERE redriven_at IS NULL AND ($1::bigint[] IS NULL OR position = ANY($1))
               RETURNING 1)
           SELECT count(*) FROM asked""",
        positions,
    )
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
    return asked


async def due_for_redrive(conn: asyncpg.Connection, topic: str, limit: int) -> list[int]:
    rows = await conn.fetch(
        """SELECT position FROM relay_quarantine
           WHERE topic = $1 AND redrive_requested_at IS NOT NULL AND redriven_at IS NULL
           ORDER BY position LIMIT $2""",
        topic, limit,
    )
    return [r["position"] for r in rows]


async def redriven(conn: asyncpg.Connection, topic: str, position: int) -> None:
    await conn.execute(
        "UPDATE relay_quarantine SET redriven_at = now() WHERE topic = $1 AND position = $2",
        topic, position,
    )
