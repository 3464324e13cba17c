"""Enrolment's read models: its own events (in the appending transaction) and its views of
training's and assessment's events (in the inbox transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.enrolment import journeys, statistics
from services.enrolment.domain.views import Certificate, ClassView
from shared.contracts import Envelope, Event
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.common import WorkSite
from shared.contracts.enrolment import (
    EnrolmentWithdrawn,
    IntakeSurveyRecorded,
    WorkerEnrolled,
    WorkerRegistered,
)
from shared.contracts.training import ClassApproved, ClassCompleted, ClassScheduled
from shared.runtime.errors import NotFound

# -- own events -----------------------------------------------------------------------------


async def project(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    for event in events:
        await journeys.project(conn, event)
        match event:
            case WorkerRegistered():
                site = event.work_site
                await conn.execute(
                    """INSERT INTO worker_profiles (worker_id, gender, birth_year,
                           hometown_county, province, city, site_name)
                       VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                    event.worker_id, event.gender, event.birth_year, event.hometown_county,
                    site and site.province, site and site.city, site and site.site_name)
            case IntakeSurveyRecorded():
                await conn.execute(
                    """INSERT INTO intake_surveys VALUES ($1, $2, $3, $4, $5, $6)""",
                    event.survey_id, event.worker_id, list(event.desired_occupations),
                    list(event.availability), event.earliest_start, event.surveyed_on)
            case WorkerEnrolled():
                await conn.execute(
                    """INSERT INTO enrolments (enrolment_id, worker_id, class_id, occupation_code,
                           target_level, enrolled_on) VALUES ($1, $2, $3, $4, $5, $6)""",
                    event.enrolment_id, event.worker_id, event.class_id, event.occupation_code,
                    event.target_level, event.enrolled_on)
                await statistics.count_enrolment(conn, event.enrolment_id, +1)
            case EnrolmentWithdrawn():
                withdrawn = await conn.fetchval(
                    """UPDATE enrolments SET withdrawn_on = $2, withdrawal_reason = $3
                       WHERE enrolment_id = $1 AND withdrawn_on IS NULL RETURNING true""",
                    event.enrolment_id, event.withdrawn_on, event.reason)
                if withdrawn:  # a live enrolment leaves its group's count once
                    await statistics.count_enrolment(conn, event.enrolment_id, -1)


# -- training's and assessment's events, through the inbox (each also moves the workers'
# journeys: services/enrolment/journeys.py) ---------------------------------

async def class_scheduled(conn: asyncpg.Connection, _: Envelope, event: ClassScheduled) -> None:
    await conn.execute(
        """INSERT INTO class_views (class_id, institution_id, occupation_code, target_level,
               capacity, first_session_date, required_minutes)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (class_id) DO NOTHING""",
        event.class_id, event.institution_id, event.occupation_code, event.target_level,
        event.capacity, min(s.date for s in event.sessions), event.required_minutes)


async def class_approved(conn: asyncpg.Connection, _: Envelope, event: ClassApproved) -> None:
    await conn.execute("UPDATE class_views SET approved = true WHERE class_id = $1",
                       event.class_id)


async def class_completed(conn: asyncpg.Connection, envelope: Envelope,
                          event: ClassCompleted) -> None:
    await conn.execute("UPDATE class_views SET completed = true WHERE class_id = $1",
                       event.class_id)
    await journeys.class_completed(conn, envelope, event)


async def skill_certified(conn: asyncpg.Connection, envelope: Envelope,
                          event: SkillLevelCertified) -> None:
    await journeys.skill_certified(conn, envelope, event)
    await conn.execute(
        """INSERT INTO worker_certificates (certificate_id, certificate_number, worker_id,
               occupation_code, level, certified_on) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (certificate_id) DO NOTHING""",
        event.certificate_id, event.certificate_number, event.worker_id,
        event.occupation_code, event.level, event.certified_on)


async def certification_revoked(conn: asyncpg.Connection, envelope: Envelope,
                                event: CertificationRevoked) -> None:
    await journeys.certification_revoked(conn, envelope, event)
    await conn.execute("UPDATE worker_certificates SET revoked_on = $2 WHERE certificate_id = $1",
                       event.certificate_id, event.revoked_on)


# -- reads for the commands' look-ups and for queries ---------------------------------------

async def class_view(conn: asyncpg.Connection, class_id: str, *,
                     lock: bool = False) -> ClassView | None:
    """The class as enrolment sees it; ``lock`` serialises enrolments into the same class."""
    row = await conn.fetchrow(
        "SELECT class_id, institution_id, occupation_code, target_level, capacity, "
        "first_session_date, approved, completed FROM class_views WHERE class_id = $1"
        + (" FOR UPDATE" if lock else ""), class_id)
    if row is None:
        return None
    enrolled = await conn.fetchval(
        "SELECT count(*) FROM enrolments WHERE class_id = $1 AND withdrawn_on IS NULL", class_id)
    return ClassView(**dict(row), enrolled_count=enrolled)


async def live_certificates(conn: asyncpg.Connection, worker_id: str) -> list[Certificate]:
    rows = await conn.fetch(
        "SELECT occupation_code, level FROM worker_certificates "
        "WHERE worker_id = $1 AND revoked_on IS NULL", worker_id)
    return [Certificate(r["occupation_code"], r["level"]) for r in rows]


async def profile(conn: asyncpg.Connection, worker_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM worker_profiles WHERE worker_id = $1", worker_id)
    return dict(row) if row else None


async def enrolment(conn: asyncpg.Connection, enrolment_id: str) -> tuple[str, str] | None:
    """Whose enrolment this is and in which class: (worker id, class id)."""
    row = await conn.fetchrow("SELECT worker_id, class_id FROM enrolments WHERE enrolment_id = $1",
                              enrolment_id)
    return (row["worker_id"], row["class_id"]) if row else None


async def site_of(conn: asyncpg.Connection, worker_id: str) -> WorkSite | None:
    """Where the worker works (what a liaison station's scope is checked against)."""
    found = await profile(conn, worker_id)
    if found is None:
        return None
    return WorkSite(province=found["province"], city=found["city"],
                    site_name=found["site_name"])


async def worker_site(conn: asyncpg.Connection, worker_id: str) -> WorkSite:
    """``site_of`` a worker the request names: 404 when no worker has this id."""
    site = await site_of(conn, worker_id)
    if site is None:
        raise NotFound("worker_unknown", "No worker is registered with this id.",
                       worker_id=worker_id)
    return site


# A worker's record is one answer, not a list to page: each part is capped, newest kept, and
# the answer says when a part was cut (no worker comes near it in a real programme).
MAX_RECORD_ITEMS = 200


async def training_record(conn: asyncpg.Connection, worker_id: str) -> dict[str, Any]:
    surveys = await conn.fetch(
        "SELECT survey_id, desired_occupations, availability, earliest_start, surveyed_on "
        "FROM intake_surveys WHERE worker_id = $1 "
        "ORDER BY surveyed_on DESC, survey_id DESC LIMIT $2", worker_id, MAX_RECORD_ITEMS + 1)
    enrolments = await conn.fetch(
        "SELECT enrolment_id, class_id, occupation_code, target_level, enrolled_on, "
        "withdrawn_on, withdrawal_reason FROM enrolments WHERE worker_id = $1 "
        "ORDER BY enrolled_on DESC, enrolment_id DESC LIMIT $2", worker_id, MAX_RECORD_ITEMS + 1)
    certificates = await conn.fetch(
        "SELECT certificate_id, certificate_number, occupation_code, level, certified_on, "
        "revoked_on FROM worker_certificates WHERE worker_id = $1 "
        "ORDER BY certified_on DESC, certificate_id DESC LIMIT $2", worker_id,
        MAX_RECORD_ITEMS + 1)
    parts = {"surveys": surveys, "enrolments": enrolments, "certificates": certificates}
    return {**{name: [dict(r) for r in reversed(rows[:MAX_RECORD_ITEMS])]
               for name, rows in parts.items()},
            "truncated": sorted(name for name, rows in parts.items()
                                if len(rows) > MAX_RECORD_ITEMS)}
