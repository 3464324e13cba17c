"""A command on a stream it has seen before reads only what was appended since, on top of the
state it kept (``shared.runtime.states``), and never builds on a state the store no longer
agrees with: one folded from an event that was rolled back, or from events since deleted.

Each case is checked by what the command decides: a check-in for a session the trainee was
already checked in at is refused, so a command that missed an event would record it twice."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from services.training import projections
from services.training.commands import COMMANDS
from services.training.domain.attendance import RecordAttendance
from services.training.domain.class_run import ClassRun
from services.training.domain.decide import TRAINEE
from shared.aggregate import load
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import apply_migrations
from shared.eventsourcing.store import EventStore
from shared.runtime.commands import RetryPolicy, run, run_each
from shared.runtime.errors import DomainError
from shared.runtime.service import ServiceContext
from shared.runtime.states import States
from tests.integration.test_command_retries import INSTITUTION, META, MIGRATIONS, prepare

pytestmark = pytest.mark.integration


def check_in(class_id: str, session: str) -> RecordAttendance:
    return RecordAttendance(class_id=class_id, session_id=session, worker_id="w-1",
                            minutes=60, method="face_check")


def context(pool: asyncpg.Pool) -> ServiceContext[Any]:
    """A training context of its own (its own kept states), as a second replica has."""
    return ServiceContext(
        "training", SimpleNamespace(attendance_threshold_percent=80), pool,
        EventStore(pool), None, None, commands=COMMANDS,  # type: ignore[arg-type]
        project=projections.project, retry_policy=RetryPolicy(attempts=3),
        states=States(min_events=1))


@pytest.fixture
async def pool(database: str) -> Any:
    pool = await create_pool(database, max_size=4)
    async with pool.acquire() as conn:
        await apply_migrations(conn, MIGRATIONS)
    yield pool
    await pool.close()


async def refusal(ctx: ServiceContext[Any], command: RecordAttendance) -> str | None:
    try:
        await run(ctx, command, INSTITUTION, META)
    except DomainError as refused:
        return refused.code
    return None


async def test_a_command_builds_on_the_state_the_last_one_kept(pool: asyncpg.Pool) -> None:
    ctx, class_id = context(pool), uuid.uuid4().hex
    await prepare(ctx, class_id)
    stream = TRAINEE.stream((class_id, "w-1"))
    assert await refusal(ctx, check_in(class_id, "s001")) is None
    assert ctx.states.get(TRAINEE, stream) is None  # read empty: nothing to keep yet
    assert await refusal(ctx, check_in(class_id, "s002")) is None
    assert ctx.states.get(TRAINEE, stream) is not None
    assert await refusal(ctx, check_in(class_id, "s001")) == "attendance_already_recorded"
    assert await refusal(ctx, check_in(class_id, "s002")) == "attendance_already_recorded"
    assert (ctx.states.hits, ctx.states.misses) == (2, 0)
    kept = ctx.states.get(TRAINEE, stream)
    assert kept is not None
    stored, version = await load(ctx.store, stream, TRAINEE.evolve, ClassRun())
    assert (kept.version, kept.state) == (version, stored) == (2, stored)


async def test_what_another_replica_appended_is_read_on_top(pool: asyncpg.Pool) -> None:
    ours, theirs, class_id = context(pool), context(pool), uuid.uuid4().hex
    await prepare(ours, class_id)
    assert await refusal(ours, check_in(class_id, "s001")) is None
    assert await refusal(ours, check_in(class_id, "s001")) == "attendance_already_recorded"
    assert await refusal(theirs, check_in(class_id, "s002")) is None
    assert await refusal(ours, check_in(class_id, "s002")) == "attendance_already_recorded"
    assert (ours.states.hits, ours.states.misses) == (1, 0)


async def test_a_state_folded_from_a_rolled_back_event_is_not_built_upon(
        pool: asyncpg.Pool) -> None:
    ours, theirs, class_id = context(pool), context(pool), uuid.uuid4().hex
    await prepare(ours, class_id)
    stream = TRAINEE.stream((class_id, "w-1"))

    class RolledBack(Exception):
        pass

    # Two commands in a caller's transaction: the second reads (and keeps) the first's event
    # before the transaction commits, and it never does.
    with pytest.raises(RolledBack):
        async with pool.acquire() as conn, conn.transaction():
            await run(ours, check_in(class_id, "s001"), INSTITUTION, META, conn)
            await run(ours, check_in(class_id, "s002"), INSTITUTION, META, conn)
            raise RolledBack
    kept = ours.states.get(TRAINEE, stream)
    assert kept is not None and kept.version == 1
    assert await ours.store.stream_version(stream) == 0
    # Another replica appends a different first event: version 1 again, another event id.
    assert await refusal(theirs, check_in(class_id, "s002")) is None
    # Built on the kept state, s002 would look free and be recorded twice.
    assert await refusal(ours, check_in(class_id, "s002")) == "attendance_already_recorded"
    assert (ours.states.hits, ours.states.misses) == (0, 1)
    assert await refusal(ours, check_in(class_id, "s001")) is None


async def test_a_state_is_not_built_upon_once_its_events_are_gone(pool: asyncpg.Pool) -> None:
    ctx, class_id = context(pool), uuid.uuid4().hex
    await prepare(ctx, class_id)
    stream = TRAINEE.stream((class_id, "w-1"))
    for session in ("s001", "s002"):
        assert await refusal(ctx, check_in(class_id, session)) is None
    assert await refusal(ctx, check_in(class_id, "s001")) == "attendance_already_recorded"
    async with pool.acquire() as conn:  # as a restore from an older backup would leave it
        await conn.execute("DELETE FROM events WHERE stream_id = $1", stream)
    assert await refusal(ctx, check_in(class_id, "s001")) is None
    assert ctx.states.misses == 1


async def test_a_batch_reads_kept_and_new_streams_in_one_query(pool: asyncpg.Pool) -> None:
    ctx, class_id = context(pool), uuid.uuid4().hex
    await prepare(ctx, class_id)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO roster (enrolment_id, class_id, worker_id) "
                           "VALUES ($1, $2, 'w-2')", uuid.uuid4().hex, class_id)
    assert await refusal(ctx, check_in(class_id, "s001")) is None
    assert await refusal(ctx, check_in(class_id, "s002")) is None  # w-1's state kept now
    w2 = RecordAttendance(class_id=class_id, session_id="s001", worker_id="w-2", minutes=60,
                          method="face_check")
    outcomes = await run_each(ctx, [check_in(class_id, "s001"), w2], INSTITUTION, META,
                              refusable=lambda _: True)
    assert [getattr(o, "code", None) for o in outcomes] == ["attendance_already_recorded", None]
    assert (ctx.states.hits, ctx.states.misses) == (1, 0)
    read = await ctx.store.read_streams(
        [TRAINEE.stream((class_id, w)) for w in ("w-1", "w-2")],
        from_versions={TRAINEE.stream((class_id, "w-1")): 2})
    assert [[e.version for e in events] for events in read.values()] == [[2], [1]]
