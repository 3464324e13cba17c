"""Each worker's journey (registered -> surveyed -> enrolled -> trained -> certified -> paid)
as one read-model row (migrations/0004_worker_journeys.sql), kept from enrolment's own events
in the appending transaction and from training's, assessment's and funding's through the
inbox; read a page at a time by an organisation that may see the workers' records.

The journey follows the worker's newest live enrolment. Every handler is idempotent and
independent of the order in which other topics' events arrive: an inbox delivers each event
once, and the payment facts (line, instruction, confirmation) are kept apart and joined on
each change, so a confirmation read before its instruction still counts once both are here.
No personal data: ids, dates, the class and its outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import asyncpg

from shared.auth.policy import SiteScope
from shared.contracts import Envelope, Event
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.enrolment import (
    EnrolmentWithdrawn,
    IntakeSurveyRecorded,
    WorkerEnrolled,
    WorkerRegistered,
)
from shared.contracts.funding import PaymentConfirmed, PaymentInstructionIssued, PayoutDue
from shared.contracts.training import AttendanceRecorded, AttendanceVoided, ClassCompleted

Stage = Literal["registered", "surveyed", "enrolled", "trained", "certified", "paid"]
STAGES: tuple[Stage, ...] = ("registered", "surveyed", "enrolled", "trained", "certified",
                             "paid")
KEY = ("province", "city", "site_name", "worker_id")
NO_SITE = ""  # a missing work site's parts (a real one's are never empty)

# -- enrolment's own events, in the appending transaction -----------------------------------


async def project(conn: asyncpg.Connection, event: Event) -> None:
    match event:
        case WorkerRegistered():
            site = event.work_site
            await conn.execute(
                """INSERT INTO worker_journeys (worker_id, province, city, site_name)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (worker_id) DO NOTHING""",
                event.worker_id, site.province if site else NO_SITE,
                site.city if site else NO_SITE, site.site_name if site else NO_SITE)
        case IntakeSurveyRecorded():
            await conn.execute(
                """UPDATE worker_journeys SET surveyed_on = greatest(surveyed_on, $2)
                   WHERE worker_id = $1""", event.worker_id, event.surveyed_on)
        case WorkerEnrolled():
            # A new journey: what is known of this class for the worker already (attendance
            # recorded before this projection saw it, in practice none) is counted in.
            await conn.execute(
                """UPDATE worker_journeys j SET enrolment_id = $2, class_id = $3,
                       occupation_code = $4, target_level = $5, enrolled_on = $6,
                       class_starts_on = c.first_session_date,
                       required_minutes = c.required_minutes,
                       attended_minutes = coalesce(
                           (SELECT sum(a.minutes) FROM journey_attendance a
                            WHERE a.worker_id = $1 AND a.class_id = $3 AND NOT a.voided), 0),
                       attendance_percent = NULL, met_threshold = NULL, completed_on = NULL,
                       certificate_id = NULL, certified_on = NULL, paid_on = NULL
                   FROM (SELECT NULL) AS one
                   LEFT JOIN class_views c ON c.class_id = $3
                   WHERE j.worker_id = $1""",
                event.worker_id, event.enrolment_id, event.class_id, event.occupation_code,
                event.target_level, event.enrolled_on)
        case EnrolmentWithdrawn():
            await conn.execute(
                """UPDATE worker_journeys SET enrolment_id = NULL, class_id = NULL,
                       occupation_code = NULL, target_level = NULL, enrolled_on = NULL,
                       class_starts_on = NULL, required_minutes = NULL, attended_minutes = 0,
                       attendance_percent = NULL, met_threshold = NULL, completed_on = NULL,
                       certificate_id = NULL, certified_on = NULL, paid_on = NULL
                   WHERE enrolment_id = $1""", event.enrolment_id)


# -- training's, assessment's and funding's events, through the inbox -----------------------

async def attendance_recorded(conn: asyncpg.Connection, _: Envelope,
                              event: AttendanceRecorded) -> None:
    await conn.execute(
        """INSERT INTO journey_attendance (attendance_id, worker_id, class_id, minutes)
           VALUES ($1, $2, $3, $4) ON CONFLICT (attendance_id) DO NOTHING""",
        event.attendance_id, event.worker_id, event.class_id, event.minutes)
    await _recount_attendance(conn, event.worker_id, event.class_id)


async def attendance_voided(conn: asyncpg.Connection, _: Envelope,
                            event: AttendanceVoided) -> None:
    await conn.execute("UPDATE journey_attendance SET voided = true WHERE attendance_id = $1",
                       event.attendance_id)
    await _recount_attendance(conn, event.worker_id, event.class_id)


async def _recount_attendance(conn: asyncpg.Connection, worker_id: str, class_id: str) -> None:
    """The live minutes of the worker's journey in this class, until the class completes
    (then ClassCompleted's figures are final)."""
    await conn.execute(
        """UPDATE worker_journeys SET attended_minutes = coalesce(
               (SELECT sum(minutes) FROM journey_attendance
                WHERE worker_id = $1 AND class_id = $2 AND NOT voided), 0)
           WHERE worker_id = $1 AND class_id = $2 AND completed_on IS NULL""",
        worker_id, class_id)


async def class_completed(conn: asyncpg.Connection, _: Envelope, event: ClassCompleted) -> None:
    trainees = event.trainees
    await conn.execute(
        """UPDATE worker_journeys j SET attended_minutes = t.attended,
               required_minutes = t.required, attendance_percent = t.attended * 100 / t.required,
               met_threshold = t.met, completed_on = $2
           FROM unnest($3::text[], $4::integer[], $5::integer[], $6::boolean[])
                AS t(worker_id, attended, required, met)
           WHERE j.worker_id = t.worker_id AND j.class_id = $1""",
        event.class_id, event.completed_on, [t.worker_id for t in trainees],
        [t.attended_minutes for t in trainees], [t.required_minutes for t in trainees],
        [t.met_threshold for t in trainees])


async def skill_certified(conn: asyncpg.Connection, _: Envelope,
                          event: SkillLevelCertified) -> None:
    await conn.execute(
        """UPDATE worker_journeys SET certificate_id = $3, certified_on = $4
           WHERE worker_id = $1 AND class_id = $2""",
        event.worker_id, event.class_id, event.certificate_id, event.certified_on)


async def certification_revoked(conn: asyncpg.Connection, _: Envelope,
                                event: CertificationRevoked) -> None:
    await conn.execute(
        """UPDATE worker_journeys SET certificate_id = NULL, certified_on = NULL
           WHERE certificate_id = $1""", event.certificate_id)


async def payout_due(conn: asyncpg.Connection, _: Envelope, event: PayoutDue) -> None:
    await conn.execute(
        """INSERT INTO journey_payout_lines (line_id, worker_id, class_id) VALUES ($1, $2, $3)
           ON CONFLICT (line_id) DO NOTHING""", event.line_id, event.worker_id, event.class_id)
    await _repaid(conn, [event.line_id])


async def payment_instruction_issued(conn: asyncpg.Connection, _: Envelope,
                                     event: PaymentInstructionIssued) -> None:
    lines = [item.line_id for item in event.items]
    await conn.execute(
        """INSERT INTO journey_instructed_lines (line_id, instruction_id)
           SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING""", lines, event.instruction_id)
    await _repaid(conn, lines)


async def payment_confirmed(conn: asyncpg.Connection, _: Envelope,
                            event: PaymentConfirmed) -> None:
    await conn.execute(
        """INSERT INTO journey_confirmed_instructions (instruction_id, confirmed_on,
               failed_line_ids) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING""",
        event.instruction_id, event.confirmed_on, list(event.failed_line_ids))
    lines = await conn.fetch("SELECT line_id FROM journey_instructed_lines "
                             "WHERE instruction_id = $1", event.instruction_id)
    await _repaid(conn, [r["line_id"] for r in lines])


async def _repaid(conn: asyncpg.Connection, line_ids: list[str]) -> None:
    """Set ``paid_on`` of the journeys these lines are for: the first day a confirmed
    instruction paid one of their class's lines (a line the bank rejected is not paid)."""
    await conn.execute(
        """UPDATE worker_journeys j SET paid_on = (
               SELECT min(c.confirmed_on) FROM journey_payout_lines l
               JOIN journey_instructed_lines i USING (line_id)
               JOIN journey_confirmed_instructions c USING (instruction_id)
               WHERE l.worker_id = j.worker_id AND l.class_id = j.class_id
                 AND NOT l.line_id = ANY(c.failed_line_ids))
           FROM journey_payout_lines l
           WHERE l.line_id = ANY($1::text[]) AND j.worker_id = l.worker_id
             AND j.class_id = l.class_id""", line_ids)


# -- reads ------------------------------------------------------------------------------------

_COLUMNS = ("worker_id, province, city, site_name, stage, surveyed_on, enrolment_id, class_id, "
            "occupation_code, target_level, enrolled_on, class_starts_on, attended_minutes, "
            "required_minutes, attendance_percent, met_threshold, completed_on, certified_on, "
            "paid_on")
_ORDER = ", ".join(KEY)


async def journeys_page(conn: asyncpg.Connection, scopes: Sequence[SiteScope] | None,
                        after: tuple[Any, ...], limit: int, *, stage: Stage | None = None,
                        starts_from: date | None = None, starts_by: date | None = None
                        ) -> list[dict[str, Any]]:
    """Up to ``limit`` journeys after the key ``after`` (all None: from the first) in key
    order, of workers at the ``scopes``' sites (None: every worker); see ``page_query``."""
    if scopes is not None and not scopes:
        return []
    sql, args = page_query(scopes, after, limit, stage=stage, starts_from=starts_from,
                           starts_by=starts_by)
    return [dict(r) for r in await conn.fetch(sql, *args)]


def page_query(scopes: Sequence[SiteScope] | None, after: tuple[Any, ...], limit: int, *,
               stage: Stage | None = None, starts_from: date | None = None,
               starts_by: date | None = None) -> tuple[str, list[Any]]:
    """The page's SQL and its parameters.

    Each scope is its own range scan of an index whose columns are (stage,) province, city,
    site_name, worker_id, limited to the page; the union of a few such ranges is merged and cut
    to the page, so a page reads at most ``limit`` rows per scope. ``starts_from`` and
    ``starts_by`` (meant with stage ``enrolled``) keep the journeys whose class starts in those
    days: they are checked on the rows of the stage's range, i.e. the scope's workers in
    classes not completed yet."""
    args: list[Any] = []

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    common: list[str] = []
    if stage is not None:
        common.append(f"stage = {param(stage)}")
    if starts_from is not None:
        common.append(f"class_starts_on >= {param(starts_from)}")
    if starts_by is not None:
        common.append(f"class_starts_on <= {param(starts_by)}")
    if after[0] is not None:
        common.append(f"({_ORDER}) > ({', '.join(param(part) for part in after)})")
    ranges: list[list[str]] = []
    for scope in ([None] if scopes is None else scopes):
        conditions = list(common)
        if scope is not None:
            conditions += [f"province = {param(scope.province)}", f"city = {param(scope.city)}"]
            if scope.site_name is not None:
                conditions.append(f"site_name = {param(scope.site_name)}")
        ranges.append(conditions)
    size = param(limit)
    selects = [f"(SELECT {_COLUMNS} FROM worker_journeys"
               f"{' WHERE ' + ' AND '.join(c) if c else ''} ORDER BY {_ORDER} LIMIT {size})"
               for c in ranges]
    return (f"SELECT * FROM ({' UNION '.join(selects)}) AS page ORDER BY {_ORDER} "
            f"LIMIT {size}", args)


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A journey as the route answers it: the site (null when the worker gave none) and the
    attendance percentage, final once the class completed, live before (null while the
    class's required hours are unknown); the minutes are integers, the percentage rounded
    down, so 79.99 % shows as 79."""
    site = None if row["province"] == NO_SITE else {
        "province": row["province"], "city": row["city"], "site_name": row["site_name"]}
    percent = row["attendance_percent"]
    if percent is None and row["required_minutes"] and row["enrolment_id"]:
        percent = row["attended_minutes"] * 100 // row["required_minutes"]
    return {
        "worker_id": row["worker_id"], "site": site, "stage": row["stage"],
        "surveyed_on": row["surveyed_on"], "enrolment_id": row["enrolment_id"],
        "class_id": row["class_id"], "occupation_code": row["occupation_code"],
        "target_level": row["target_level"], "enrolled_on": row["enrolled_on"],
        "class_starts_on": row["class_starts_on"],
        "attended_minutes": row["attended_minutes"] if row["enrolment_id"] else None,
        "attendance_percent": percent, "met_threshold": row["met_threshold"],
        "completed_on": row["completed_on"], "certified_on": row["certified_on"],
        "paid_on": row["paid_on"],
    }


def key_of(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return (row["province"], row["city"], row["site_name"], row["worker_id"])
