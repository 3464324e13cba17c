"""Notifications' read models, written by its consumers inside the inbox transaction.

Pseudonymous facts only: worker ids with gender and birth year, classes as scheduled,
enrolments (worker id to class id), payment items by line. No names, no phones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

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
    columns = "SELECT worker_id, gender, birth_year, registered_at FROM known_workers"
    order = "ORDER BY registered_at, worker_id"
    if after[0] is None:
        rows = await conn.fetch(f"{columns} {order} LIMIT $1", limit)
    else:
        rows = await conn.fetch(f"{columns} WHERE (registered_at, worker_id) > ($1, $2) "
                                f"{order} LIMIT $3", *after, limit)
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


async def scheduled_class(conn: asyncpg.Connection, class_id: str
                          ) -> tuple[ClassScheduled, tuple[UUID, str]] | None:
    """The class's schedule as last heard, with the (id, type) of the event that said it."""
    row = await conn.fetchrow("SELECT scheduled, event_id FROM known_classes "
                              "WHERE class_id = $1", class_id)
    if row is None:
        return None
    return (ClassScheduled.model_validate(row["scheduled"]),
            (row["event_id"], ClassScheduled.ce_type()))


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


# -- the delivery log's pages (migrations/0005_paged_reads.sql has the indexes) ---------------

NOTIFICATION_FILTERS = ("kind", "state", "recipient_id")


async def notifications_page(conn: asyncpg.Connection, filters: dict[str, str | None],
                             after: tuple[datetime | None, UUID | None],
                             limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` notices matching the given ``filters`` (None: any), after the
    (created_at, notification_id) key ``after``. Only the filters given are in the query's
    text, so each is an index condition (an index per filter serves it and the order)."""
    given = [(name, filters[name]) for name in NOTIFICATION_FILTERS if filters[name] is not None]
    conditions = [f"{name} = ${i}" for i, (name, _) in enumerate(given, start=1)]
    arguments: list[Any] = [value for _, value in given]
    if after[0] is not None:
        n = len(arguments)
        conditions.append(f"(created_at, notification_id) > (${n + 1}, ${n + 2})")
        arguments += after
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    rows = await conn.fetch(
        f"SELECT * FROM notifications {where}ORDER BY created_at, notification_id "
        f"LIMIT ${len(arguments) + 1}", *arguments, limit)
    return [dict(r) for r in rows]


async def notification_counts(conn: asyncpg.Connection, after: tuple[str | None, str | None],
                              limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` (kind, state) counts after the key ``after``, kept by the counting
    triggers; a group with no notices now is left out."""
    if after[0] is None:
        rows = await conn.fetch(
            "SELECT kind, state, count FROM notification_counts WHERE count <> 0 "
            "ORDER BY kind, state LIMIT $1", limit)
    else:
        rows = await conn.fetch(
            "SELECT kind, state, count FROM notification_counts WHERE count <> 0 "
            "AND (kind, state) > ($1, $2) ORDER BY kind, state LIMIT $3", *after, limit)
    return [dict(r) for r in rows]


async def attempts_page(conn: asyncpg.Connection, notification_id: UUID, after: int | None,
                        limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` attempts at a notice after the attempt id ``after``."""
    columns = ("SELECT attempt_id, attempt, channel, outcome, error_code, started_at, "
               "finished_at FROM delivery_attempts WHERE notification_id = $1")
    if after is None:
        rows = await conn.fetch(f"{columns} ORDER BY attempt_id LIMIT $2", notification_id,
                                limit)
    else:
        rows = await conn.fetch(f"{columns} AND attempt_id > $2 ORDER BY attempt_id LIMIT $3",
                                notification_id, after, limit)
    return [dict(r) for r in rows]
