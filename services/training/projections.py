"""Training's read models: its own events (appending transaction) and the roster (inbox)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from services.training import statistics
from shared.contracts import Envelope, Event
from shared.contracts.enrolment import EnrolmentWithdrawn, WorkerEnrolled
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassApproved,
    ClassCompleted,
    ClassScheduled,
    InstitutionAccredited,
    InstitutionReinstated,
    InstitutionSuspended,
)

_RECORD_ATTENDANCE = """INSERT INTO attendance_sheet (attendance_id, class_id, session_id,
                             session_date, worker_id, minutes, method)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)"""


async def project(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """Every event's read-model rows, in the events' order. A run of check-ins (a batch of
    terminals' requests, a session register) is one statement for the run."""
    for alike, run in itertools.groupby(events, key=lambda e: isinstance(e, AttendanceRecorded)):
        if alike:
            await conn.executemany(_RECORD_ATTENDANCE, [
                (e.attendance_id, e.class_id, e.session_id, e.session_date, e.worker_id,
                 e.minutes, e.method) for e in run])
        else:
            await _project_each(conn, run)


async def _project_each(conn: asyncpg.Connection, events: Iterable[Event]) -> None:
    for event in events:
        match event:
            case InstitutionAccredited():
                await conn.execute(
                    "INSERT INTO institutions (institution_id, name, occupations, accredited_on) "
                    "VALUES ($1, $2, $3, $4)",
                    event.institution_id, event.name, list(event.occupations),
                    event.accredited_on)
            case InstitutionSuspended() | InstitutionReinstated():
                await conn.execute(
                    "UPDATE institutions SET suspended = $2 WHERE institution_id = $1",
                    event.institution_id, isinstance(event, InstitutionSuspended))
            case ClassScheduled():
                days = [session.date for session in event.sessions]
                # A roster that arrived first (a replay of enrolment's events) is counted.
                await conn.execute(
                    """INSERT INTO class_runs (class_id, institution_id, occupation_code,
                           target_level, province, city, site_name, mode, capacity,
                           required_minutes, first_session_date, last_session_date, enrolled)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                               (SELECT count(*) FROM roster WHERE class_id = $1))""",
                    event.class_id, event.institution_id, event.occupation_code,
                    event.target_level, event.site.province, event.site.city,
                    event.site.site_name, event.mode, event.capacity, event.required_minutes,
                    min(days), max(days))
                await statistics.count_class(conn, event.class_id, +1)
            case ClassApproved():
                await statistics.count_class(conn, event.class_id, -1)
                await conn.execute("UPDATE class_runs SET approved_on = $2 WHERE class_id = $1",
                                   event.class_id, event.approved_on)
                await statistics.count_class(conn, event.class_id, +1)
            case ClassCompleted():
                await statistics.count_class(conn, event.class_id, -1)
                await conn.execute(
                    "UPDATE class_runs SET completed_on = $2, met_threshold = $3 "
                    "WHERE class_id = $1", event.class_id, event.completed_on,
                    sum(1 for t in event.trainees if t.met_threshold))
                await statistics.count_class(conn, event.class_id, +1)
            case AttendanceVoided():
                await conn.execute(
                    "UPDATE attendance_sheet SET voided_reason = $2 WHERE attendance_id = $1",
                    event.attendance_id, event.reason)


async def worker_enrolled(conn: asyncpg.Connection, _: Envelope, event: WorkerEnrolled) -> None:
    """The trainee on the class's roster, counted in its list item and its statistics once
    (an enrolment delivered again changes nothing)."""
    added = await conn.fetchval(
        "INSERT INTO roster (enrolment_id, class_id, worker_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (enrolment_id) DO NOTHING RETURNING class_id",
        event.enrolment_id, event.class_id, event.worker_id)
    if added is not None:
        await _count_trainee(conn, added, +1)


async def enrolment_withdrawn(conn: asyncpg.Connection, _: Envelope,
                              event: EnrolmentWithdrawn) -> None:
    gone = await conn.fetchval("DELETE FROM roster WHERE enrolment_id = $1 RETURNING class_id",
                               event.enrolment_id)
    if gone is not None:
        await _count_trainee(conn, gone, -1)


async def _count_trainee(conn: asyncpg.Connection, class_id: str, delta: int) -> None:
    """The class's roster count moved by ``delta``; no class row yet (its schedule not
    projected) leaves the count to the schedule's projection, which counts the roster."""
    await statistics.count_class(conn, class_id, -1)
    await conn.execute("UPDATE class_runs SET enrolled = enrolled + $2 WHERE class_id = $1",
                       class_id, delta)
    await statistics.count_class(conn, class_id, +1)


async def roster(conn: asyncpg.Connection, class_id: str) -> frozenset[str]:
    rows = await conn.fetch("SELECT worker_id FROM roster WHERE class_id = $1", class_id)
    return frozenset(r["worker_id"] for r in rows)


async def class_sheet(conn: asyncpg.Connection, class_id: str, after: tuple[Any, ...],
                      limit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The roster (at most a class's size) and up to ``limit`` records of the attendance
    sheet after the (session_date, session_id, worker_id, attendance_id) key ``after``,
    voided records included and marked."""
    trainees = await conn.fetch(
        "SELECT enrolment_id, worker_id FROM roster WHERE class_id = $1 ORDER BY worker_id",
        class_id)
    columns = ("SELECT attendance_id, session_id, session_date, worker_id, minutes, method, "
               "voided_reason FROM attendance_sheet WHERE class_id = $1")
    order = "ORDER BY session_date, session_id, worker_id, attendance_id"
    if after[0] is None:
        attendance = await conn.fetch(f"{columns} {order} LIMIT $2", class_id, limit)
    else:
        attendance = await conn.fetch(
            f"{columns} AND (session_date, session_id, worker_id, attendance_id) > "
            f"($2, $3, $4, $5) {order} LIMIT $6", class_id, *after, limit)
    return [dict(r) for r in trainees], [dict(r) for r in attendance]


async def worker_of_record(conn: asyncpg.Connection, class_id: str,
                           attendance_id: str) -> str | None:
    """Whose record ``attendance_id`` is, when it is one of this class's."""
    return await conn.fetchval(
        "SELECT worker_id FROM attendance_sheet WHERE attendance_id = $1 AND class_id = $2",
        attendance_id, class_id)


async def class_records(conn: asyncpg.Connection, class_id: str) -> list[asyncpg.Record]:
    """Every attendance record of the class, voided ones included (at most a class's size
    times a trainee's bound, ``MAX_ATTENDANCE_RECORDS``)."""
    return await conn.fetch(
        "SELECT attendance_id, session_id, session_date, worker_id, minutes, voided_reason "
        "FROM attendance_sheet WHERE class_id = $1", class_id)


_CLASS_ITEM = ("SELECT class_id, institution_id, occupation_code, target_level, province, city, "
               "site_name, mode, capacity, enrolled, state, first_session_date, "
               "last_session_date, approved_on, completed_on FROM class_runs")


async def class_list(conn: asyncpg.Connection, *, institution_id: str | None,
                     state: str | None, after: str | None,
                     limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` classes after the class id ``after`` (None: from the first), in class id
    order, of one institution and in one state when given. Each filter set is a range of one
    index (migrations/0004_class_list.sql: the filters, then class_id), so a page reads its
    own rows only; the first page is a query without the cursor condition (see
    shared/runtime/paging.py)."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("institution_id", institution_id), ("state", state)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if after is not None:
        args.append(after)
        where.append(f"class_id > ${len(args)}")
    args.append(limit)
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(f"{_CLASS_ITEM} {condition} ORDER BY class_id LIMIT ${len(args)}",
                            *args)
    return [dict(r) for r in rows]
