"""Assessment's read models: its own events (appending transaction) and training's (inbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.assessment import statistics
from services.assessment.domain.class_view import ClassView
from shared.contracts import Envelope, Event
from shared.contracts.assessment import (
    AssessmentResultRecorded,
    AssessmentResultVoided,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.training import ClassCompleted, ClassScheduled, InstitutionAccredited


async def project(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    for event in events:
        match event:
            case AssessmentScheduled():  # the class leaves the bodies' task queue
                await conn.execute(
                    """UPDATE class_views SET assessment_ids = array_append(assessment_ids, $2)
                       WHERE class_id = $1 AND NOT $2 = ANY(assessment_ids)""",
                    event.class_id, event.assessment_id)
            case AssessmentResultRecorded():
                await conn.execute(
                    """INSERT INTO results (result_id, assessment_id, worker_id, theory_score,
                           practical_score, passed) VALUES ($1, $2, $3, $4, $5, $6)""",
                    event.result_id, event.assessment_id, event.worker_id, event.theory_score,
                    event.practical_score, event.passed)
            case AssessmentResultVoided():
                await conn.execute("UPDATE results SET voided_reason = $2 WHERE result_id = $1",
                                   event.result_id, event.reason)
            case SkillLevelCertified():
                await conn.execute(
                    """INSERT INTO certificates (certificate_id, certificate_number,
                           assessment_id, worker_id, body_id, occupation_code, level,
                           certified_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                    event.certificate_id, event.certificate_number, event.assessment_id,
                    event.worker_id, event.body_id, event.occupation_code, event.level,
                    event.certified_on)
                await statistics.count_certificate(conn, event.occupation_code, event.level, +1)
            case CertificationRevoked():
                revoked = await conn.fetchrow(
                    "UPDATE certificates SET revoked_on = $2, revocation_reason = $3 "
                    "WHERE certificate_id = $1 AND revoked_on IS NULL "
                    "RETURNING occupation_code, level",
                    event.certificate_id, event.revoked_on, event.reason)
                if revoked is not None:  # a live certificate leaves its group's count once
                    await statistics.count_certificate(conn, revoked["occupation_code"],
                                                       revoked["level"], -1)


async def class_scheduled(conn: asyncpg.Connection, _: Envelope, event: ClassScheduled) -> None:
    await conn.execute(
        """INSERT INTO class_views (class_id, institution_id, occupation_code, target_level,
               trainer_ids) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (class_id) DO NOTHING""",
        event.class_id, event.institution_id, event.occupation_code, event.target_level,
        list(event.trainer_ids))


async def class_completed(conn: asyncpg.Connection, _: Envelope, event: ClassCompleted) -> None:
    eligible = sorted(t.worker_id for t in event.trainees if t.met_threshold)
    await conn.execute(
        "UPDATE class_views SET completed_on = $2, eligible_worker_ids = $3 WHERE class_id = $1",
        event.class_id, event.completed_on, eligible)


async def institution_accredited(conn: asyncpg.Connection, _: Envelope,
                                 event: InstitutionAccredited) -> None:
    await conn.execute(
        "INSERT INTO institution_partners (institution_id, partners) VALUES ($1, $2) "
        "ON CONFLICT (institution_id) DO UPDATE SET partners = excluded.partners",
        event.institution_id, list(event.partners))


# The queue's rows, in the partial index's order (migration 0003): a page reads its own rows.
_AWAITING = """SELECT class_id, institution_id, occupation_code, target_level, completed_on,
                      cardinality(eligible_worker_ids) AS eligible_trainees
               FROM class_views
               WHERE completed_on IS NOT NULL AND cardinality(eligible_worker_ids) > 0
                 AND cardinality(assessment_ids) = 0"""


async def classes_awaiting_assessment(conn: asyncpg.Connection, after: str | None,
                                      limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` completed classes with trainees to assess and no assessment scheduled,
    by class id after ``after``."""
    if after is None:
        rows = await conn.fetch(_AWAITING + " ORDER BY class_id LIMIT $1", limit)
    else:
        rows = await conn.fetch(_AWAITING + " AND class_id > $1 ORDER BY class_id LIMIT $2",
                                after, limit)
    return [dict(r) for r in rows]


async def class_view(conn: asyncpg.Connection, class_id: str) -> ClassView | None:
    row = await conn.fetchrow(
        """SELECT c.*, coalesce(p.partners, '{}') AS partners FROM class_views c
           LEFT JOIN institution_partners p USING (institution_id) WHERE c.class_id = $1""",
        class_id)
    if row is None:
        return None
    return ClassView(class_id=row["class_id"], institution_id=row["institution_id"],
                     occupation_code=row["occupation_code"], target_level=row["target_level"],
                     trainer_ids=frozenset(row["trainer_ids"]),
                     institution_partners=frozenset(row["partners"]),
                     completed_on=row["completed_on"],
                     eligible_worker_ids=frozenset(row["eligible_worker_ids"]))


async def next_certificate_sequence(conn: asyncpg.Connection, body_code: str, year: int) -> int:
    """The next number for this body and year, locking its row until the transaction ends."""
    await conn.execute(
        "INSERT INTO certificate_sequences VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
        body_code, year)
    last = await conn.fetchval(
        "SELECT last_sequence FROM certificate_sequences WHERE body_code = $1 AND year = $2 "
        "FOR UPDATE", body_code, year)
    return last + 1


async def use_certificate_sequence(conn: asyncpg.Connection, body_code: str, year: int,
                                   sequence: int) -> None:
    await conn.execute(
        "UPDATE certificate_sequences SET last_sequence = $3 WHERE body_code = $1 AND year = $2",
        body_code, year, sequence)


async def assessment_of_certificate(conn: asyncpg.Connection, certificate_id: str) -> str | None:
    return await conn.fetchval("SELECT assessment_id FROM certificates WHERE certificate_id = $1",
                               certificate_id)


async def candidates_with_results(conn: asyncpg.Connection, assessment_id: str,
                                  after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` workers with a result in the assessment, after ``after``, in order."""
    if after is None:
        rows = await conn.fetch(
            "SELECT DISTINCT worker_id FROM results WHERE assessment_id = $1 "
            "ORDER BY worker_id LIMIT $2", assessment_id, limit)
    else:
        rows = await conn.fetch(
            "SELECT DISTINCT worker_id FROM results WHERE assessment_id = $1 "
            "AND worker_id > $2 ORDER BY worker_id LIMIT $3", assessment_id, after, limit)
    return [r["worker_id"] for r in rows]


async def results_of(conn: asyncpg.Connection, assessment_id: str,
                     workers: list[str]) -> dict[str, Any]:
    """The results and certificates of these workers in the assessment."""
    results = await conn.fetch(
        "SELECT result_id, worker_id, theory_score, practical_score, passed, voided_reason "
        "FROM results WHERE assessment_id = $1 AND worker_id = ANY($2::text[]) "
        "ORDER BY worker_id, result_id", assessment_id, workers)
    certificates = await conn.fetch(
        "SELECT certificate_id, certificate_number, worker_id, occupation_code, level, "
        "certified_on, revoked_on, revocation_reason FROM certificates "
        "WHERE assessment_id = $1 AND worker_id = ANY($2::text[]) "
        "ORDER BY certificate_number", assessment_id, workers)
    return {"results": [dict(r) for r in results],
            "certificates": [dict(r) for r in certificates]}
