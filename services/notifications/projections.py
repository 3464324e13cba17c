"""Notifications' read models, written by its consumers inside the inbox transaction."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.contracts import Envelope
from shared.contracts.enrolment import WorkerRegistered


async def record_worker(conn: asyncpg.Connection, envelope: Envelope,
                        event: WorkerRegistered) -> None:
    await conn.execute(
        """INSERT INTO known_workers (worker_id, gender, birth_year, registered_at, event_id)
           VALUES ($1, $2, $3, $4, $5)""",
        event.worker_id, event.gender, event.birth_year, envelope.time, envelope.id,
    )


async def known_workers(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT worker_id, gender, birth_year, registered_at FROM known_workers "
        "ORDER BY registered_at, worker_id")
    return [dict(r) for r in rows]


async def known_worker(conn: asyncpg.Connection, worker_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT worker_id, gender, birth_year, registered_at FROM known_workers "
        "WHERE worker_id = $1", worker_id)
    return dict(row) if row else None
