"""Notifications' read models, written by its consumers inside the inbox transaction.

Pseudonymous facts only: worker ids with gender and birth year, classes as scheduled,
enrolments (worker id to class id), payment items by line. No names, no phones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts import Envelope
from shared.contracts.enrolment import WorkerRegistered
from shared.contracts.funding import PaymentConfirmed, PaymentItem
from shared.contracts.training import ClassScheduled


async def record_worker(conn: asyncpg.Connection, envelope: Envelope,
                        event: WorkerRegistered) -> None:
    await conn.execute(
        """INSERT INTO known_workers (worker_id, gender, birth_year, registered_at, event_id)
           VALUES ($1, $2, $3, $4, $5)""",
        event.worker_id, event.gender, event.birth_year, envelope.time, envelope.id,
    )


async def known_workers(conn: asyncpg.Connection, after: tuple[datetime | None, str | None],
                        limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` workers after the (registered_at, worker_id) key ``after``."""
    rows = await conn.fetch(
        "SELECT worker_id, gender, birth_year, registered_at FROM known_workers "
        "WHERE $1::timestamptz IS NULL OR (registered_at, worker_id) > ($1, $2) "
        "ORDER BY registered_at, worker_id LIMIT $3", *after, limit)
    return [dict(r) for r in rows]


async def known_worker(conn: asyncpg.Connection, worker_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT worker_id, gender, birth_year, registered_at FROM known_workers "
        "WHERE worker_id = $1", worker_id)
    return dict(row) if row else None


async def genders(conn: asyncpg.Connection, worker_ids: list[str]) -> dict[str, str | None]:
    rows = await conn.fetch("SELECT worker_id, gender FROM known_workers "
                            "WHERE worker_id = ANY($1::text[])", worker_ids)
    found = {r["worker_id"]: r["gender"] for r in rows}
    return {w: found.get(w) for w in worker_ids}


async def lock(conn: asyncpg.Connection, key: str) -> None:
    """Serialise handlers that meet on one class or instruction (events from two topics)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)


async def record_class(conn: asyncpg.Connection, envelope: Envelope,
                       event: ClassScheduled) -> None:
    await conn.execute(
        "INSERT INTO known_classes (class_id, scheduled, event_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (class_id) DO UPDATE SET scheduled = excluded.scheduled, "
        "event_id = excluded.event_id",
        event.class_id, event.model_dump(mode="json"), envelope.id)


async def scheduled_class(conn: asyncpg.Connection, class_id: str) -> ClassScheduled | None:
    data = await conn.fetchval("SELECT scheduled FROM known_classes WHERE class_id = $1",
                               class_id)
    return ClassScheduled.model_validate(data) if data is not None else None


async def record_enrolment(conn: asyncpg.Connection, envelope: Envelope, enrolment_id: str,
                           worker_id: str, class_id: str) -> None:
    await conn.execute(
        "INSERT INTO known_enrolments (enrolment_id, worker_id, class_id, event_id) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (enrolment_id) DO NOTHING",
        enrolment_id, worker_id, class_id, envelope.id)


async def withdraw_enrolment(conn: asyncpg.Connection, enrolment_id: str) -> None:
    await conn.execute("UPDATE known_enrolments SET withdrawn = true WHERE enrolment_id = $1",
                       enrolment_id)


async def enrolled_workers(conn: asyncpg.Connection, class_id: str) -> list[str]:
    rows = await conn.fetch("SELECT worker_id FROM known_enrolments "
                            "WHERE class_id = $1 AND NOT withdrawn ORDER BY worker_id", class_id)
    return [r["worker_id"] for r in rows]


async def record_instruction(conn: asyncpg.Connection, instruction_id: str,
                             items: list[PaymentItem]) -> None:
    await conn.execute(
        "INSERT INTO payment_instructions (instruction_id, items) VALUES ($1, $2) "
        "ON CONFLICT (instruction_id) DO NOTHING",
        instruction_id, [i.model_dump(mode="json") for i in items])


async def instruction_items(conn: asyncpg.Connection,
                            instruction_id: str) -> list[PaymentItem] | None:
    data = await conn.fetchval(
        "SELECT items FROM payment_instructions WHERE instruction_id = $1", instruction_id)
    return None if data is None else [PaymentItem.model_validate(i) for i in data]


async def record_confirmation(conn: asyncpg.Connection, envelope: Envelope,
                              event: PaymentConfirmed) -> None:
    await conn.execute(
        "INSERT INTO payment_confirmations (instruction_id, confirmed, event_id, event_type, "
        "event_time, correlation_id) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (instruction_id) DO NOTHING",
        event.instruction_id, event.model_dump(mode="json"), envelope.id, envelope.type,
        envelope.time, envelope.correlation_id)


async def confirmation(conn: asyncpg.Connection,
                       instruction_id: str) -> tuple[Envelope, PaymentConfirmed] | None:
    """The confirmation seen before its instruction, as the envelope that called for it."""
    row = await conn.fetchrow("SELECT * FROM payment_confirmations WHERE instruction_id = $1",
                              instruction_id)
    if row is None:
        return None
    event = PaymentConfirmed.model_validate(row["confirmed"])
    envelope = Envelope(id=row["event_id"], source="/songji/funding", type=row["event_type"],
                        subject=instruction_id, time=row["event_time"], data=row["confirmed"],
                        schema_version=PaymentConfirmed.schema_version,
                        correlation_id=row["correlation_id"])
    return envelope, event
