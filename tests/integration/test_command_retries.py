"""The pipeline makes a command that lost a race again, against the state that won it.

A competing command is committed between the attempt's decision and its append (from the
projection step, the last before the append), so the first attempt conflicts for certain.
The property: what the retried command does is exactly what it decides against the final
state, with the same ids, whatever the competitor did.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import date
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.training import projections
from services.training.app import SPEC as TRAINING
from services.training.commands import COMMANDS
from services.training.domain.attendance import RecordAttendance, VoidAttendance
from services.training.domain.catalogue import catalogue_by_code
from services.training.domain.class_run import ApproveClass, ClassRun, ScheduleClass
from services.training.domain.decide import CLASS, TRAINEE, TraineeGiven, decide_trainee
from services.training.domain.institution import AccreditInstitution
from shared.aggregate import load
from shared.auth.policy import Organisation
from shared.calendar import programme_today
from shared.contracts import Metadata
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.store import EventStore
from shared.runtime.commands import RetryPolicy, run
from shared.runtime.errors import DomainError
from shared.runtime.service import ServiceContext
from tests.orgs import FUKANG

pytestmark = pytest.mark.integration

HR = Organisation("hr", "hr_bureau")
INSTITUTION = Organisation("org-inst-1", "training_institution", institution_id="inst-1")
META = Metadata(correlation_id="retries")
MIGRATIONS = migration_files(KIT_MIGRATIONS, TRAINING.migrations)

# What may happen to the trainee's stream between the decision and the append: another
# check-in at the same or another session, or a void of the record already there.
COMPETITOR = st.sampled_from(["same_session", "other_session", "void_existing"])
ATTEMPT = st.sampled_from(["same_session", "other_session"])


def record(class_id: str, session: str, minutes: int = 120) -> RecordAttendance:
    return RecordAttendance(class_id=class_id, session_id=session, worker_id="w-1",
                            minutes=minutes, method="face_check")


async def scenario(dsn: str, existing: bool, competitor: str, attempt: str) -> None:
    pool = await create_pool(dsn, max_size=4)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, MIGRATIONS)
        ctx: ServiceContext[Any] = ServiceContext(
            "training", SimpleNamespace(attendance_threshold_percent=80), pool,
            EventStore(pool), None, None, commands=COMMANDS,  # type: ignore[arg-type]
            project=projections.project, retry_policy=RetryPolicy(attempts=3))
        class_id = uuid.uuid4().hex
        await prepare(ctx, class_id)
        first = (await run(ctx, record(class_id, "s001"), INSTITUTION, META)).body \
            if existing else None

        competing = {"same_session": record(class_id, "s001", 60),
                     "other_session": record(class_id, "s002", 60),
                     "void_existing": VoidAttendance(class_id=class_id, attendance_id=(
                         first or {}).get("attendance_id", "none"), reason="纠正")}[competitor]
        ours = record(class_id, "s001" if attempt == "same_session" else "s002")
        competitor_done: list[object] = []

        async def project_after_a_competitor(conn: asyncpg.Connection, events: list) -> None:
            if not competitor_done:  # once: on the first attempt, before its append
                try:
                    competitor_done.append(await run(ctx, competing, INSTITUTION, META))
                except DomainError as refused:
                    competitor_done.append(refused)
            await projections.project(conn, events)

        racing = replace(ctx, project=project_after_a_competitor)
        try:
            outcome: Any = await run(racing, ours, INSTITUTION, META)
        except DomainError as refused:
            outcome = refused

        final, _ = await load(ctx.store, TRAINEE.stream((class_id, "w-1")), TRAINEE.evolve,
                              ClassRun())
        class_state, _ = await load(ctx.store, CLASS.stream(class_id), CLASS.evolve, ClassRun())
        # A command refused at once never reaches the projection: no competitor then.
        competitor_wrote = bool(competitor_done) and not isinstance(competitor_done[0],
                                                                    DomainError)
        if isinstance(outcome, DomainError):
            attendance_id = ""
            expected_events: Any = None
        else:
            attendance_id = outcome.body["attendance_id"]
            assert outcome.attempts == (2 if competitor_wrote else 1)
            # each conflict is counted for /metrics, as a retry since one attempt was left
            retries = ctx.metrics.registry.get_sample_value(
                "songji_command_retries_total", {"command": "RecordAttendance"})
            assert (retries or 0) == outcome.attempts - 1
            # The decision is made on the state before our own record was appended.
            final = replace(final, attendance={k: v for k, v in final.attendance.items()
                                               if k != attendance_id})
            expected_events = outcome.events
        again = TraineeGiven(class_run=class_state, worker_id="w-1", on_roster=True,
                             today=programme_today(), attendance_id=attendance_id)
        try:
            decided: Any = decide_trainee(ours, final, again)
        except DomainError as refused:
            assert isinstance(outcome, DomainError) and outcome.code == refused.code
        else:
            assert decided == expected_events
    finally:
        await pool.close()


async def prepare(ctx: ServiceContext[Any], class_id: str) -> None:
    if not await ctx.store.stream_version("institution-inst-1"):
        await run(ctx, AccreditInstitution(
            institution_id="inst-1", name="学校", occupations=["electrician"],
            sites=[FUKANG]), HR, META)
    sessions = [{"date": date(2025, 7, d), "start_local": "09:00", "end_local": "12:00",
                 "kind": "classroom_theory"} for d in (26, 27)]
    await run(ctx, ScheduleClass(
        class_id=class_id, institution_id="inst-1", occupation_code="electrician",
        target_level=5, site=FUKANG, mode="weekend", capacity=10, sessions=sessions,
        required_minutes=300), INSTITUTION, META)
    await run(ctx, ApproveClass(class_id=class_id), HR, META)
    async with ctx.pool.acquire() as conn:
        await conn.execute("INSERT INTO roster (enrolment_id, class_id, worker_id) "
                           "VALUES ($1, $2, 'w-1')", uuid.uuid4().hex, class_id)


def test_the_catalogue_offers_the_class_used_here() -> None:
    assert 5 in catalogue_by_code()["electrician"].levels


@settings(max_examples=12, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(existing=st.booleans(), competitor=COMPETITOR, attempt=ATTEMPT)
@example(existing=False, competitor="other_session", attempt="same_session")  # decided twice
@example(existing=False, competitor="same_session", attempt="same_session")  # then refused
def test_a_retried_decision_equals_the_decision_on_the_final_state(
        database: str, existing: bool, competitor: str, attempt: str) -> None:
    asyncio.run(scenario(database, existing, competitor, attempt))
