"""Recompute jobs on the real PostgreSQL and broker: a policy publication answers 202 at once
with its job; the job reaches done, one chunk per transaction, and the ledger is then what a
one-shot recompute over the same history gives (lines, read models equal to ``settle``);
reads and commands answer between chunks; a service stopped mid-job resumes from the cursor
when it starts again and ends with the same ledger; jobs run one at a time, in order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid

import asyncpg
import httpx
import pytest

from services.funding import jobs
from services.funding.app import SPEC as FUNDING
from services.funding.domain.ledger import derive_lines
from services.funding.records import inputs_for, recompute, recorded_lines
from shared.contracts import Actor, Metadata
from shared.eventsourcing.store import EventStore
from tests.integration.test_funding_read_models import assert_read_models_equal_settle
from tests.integration.test_funding_service import POLICY, Source, certificate, run_class
from tests.orgs import auth
from tests.support import eventually, running_service

pytestmark = pytest.mark.integration

HR = auth("hr")
WORKERS = {f"w-{i}": 15 - i % 5 for i in range(7)}  # 7 trainees, some below the threshold
RICHER = {**POLICY, "living_subsidy": {"meals_fen_per_day": 9000,
                                       "transport_fen_per_day": 3000}}


async def job_view(api: httpx.AsyncClient, job_id: str) -> dict:
    response = await api.get(f"/jobs/{job_id}", headers=HR)
    assert response.status_code == 200, response.text
    return response.json()


async def done(api: httpx.AsyncClient, job_id: str) -> dict:
    async def finished() -> dict | None:
        view = await job_view(api, job_id)
        assert view["state"] != "failed", view
        return view if view["state"] == "done" else None
    return await eventually(finished)


async def publish(api: httpx.AsyncClient, body: dict) -> dict:
    response = await api.post("/policies", json=body, headers=HR)
    assert response.status_code == 202, response.text
    published = response.json()
    assert response.headers["Location"] == f"/jobs/{published['job']}"
    return published


async def lines_with_a_certificate(api: httpx.AsyncClient, src: Source) -> list[dict]:
    await run_class(src, WORKERS)
    await src.send("assessment", "cert-w-0", certificate("w-0"))

    async def derived() -> list[dict]:
        lines = (await api.get("/ledger", headers=HR, params={"limit": 1000})).json()
        return lines if len(lines) >= len(WORKERS) + 1 else []
    return await eventually(derived)


async def assert_one_shot_agrees(pool: asyncpg.Pool, store: EventStore, where: str) -> None:
    """The recorded lines are those a one-shot derivation over the whole input log gives; a
    one-shot ``recompute(None)`` now finds nothing to change; the read models equal
    ``settle``."""
    async with pool.acquire() as conn:
        recorded = {x.line_id: x for x in await recorded_lines(conn)}
        expected = {x.line_id: x for x in derive_lines(await inputs_for(conn, None))}
    assert recorded == expected, where
    async with pool.acquire() as conn, conn.transaction():
        assert await recompute(conn, store, None, Metadata(
            correlation_id="one-shot", actor=Actor(org="funding"))) == 0, where
    await assert_read_models_equal_settle(pool, where)


async def test_publish_answers_at_once_and_the_job_puts_the_lines_in_the_ledger(
        database: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, recompute_chunk_workers=2) as (app, api):
        first = await publish(api, POLICY)
        assert first["policy_id"] == POLICY["policy_id"] and first["version"] == 1
        assert (await done(api, first["job"]))["progress"] == {
            "done": 0, "total": 0, "percent": 100}  # no trainee yet
        before = {x["line_id"]: x["amount_fen"] for x in await lines_with_a_certificate(api, src)}

        second = await publish(api, RICHER)
        view = await done(api, second["job"])
        assert view["progress"] == {"done": len(WORKERS), "total": len(WORKERS),
                                    "percent": 100}
        assert view["error"] is None and view["kind"] == "recompute_ledger"
        assert view["started_at"] <= view["finished_at"]
        after = {x["line_id"]: x for x in (await api.get(
            "/ledger", headers=HR, params={"limit": 1000})).json()}
        # every living subsidy raised by the new version: an adjustment naming its event
        raised = [x for x in after.values() if x["kind"] == "adjustment"]
        assert raised and all(x["policy_version"] == 2 for x in raised)
        assert all(view["cause_event_id"] in x["justified_by"] for x in raised)
        assert set(before) < set(after)
        ctx = app.state.ctx
        await assert_one_shot_agrees(ctx.pool, ctx.store, "after the job")

        # the list, paged in the order the jobs were recorded; who may read it
        page = await api.get("/jobs", headers=HR, params={"limit": 1})
        assert [j["job_id"] for j in page.json()] == [first["job"]]
        rest = await api.get(page.links["next"]["url"], headers=HR)
        assert [j["job_id"] for j in rest.json()] == [second["job"]]
        assert (await api.get(f"/jobs/{second['job']}", headers=auth("auditor"))
                ).status_code == 200
        assert (await api.get("/jobs", headers=auth("org-inst-1"))).status_code == 403
        unknown = await api.get("/jobs/not-a-job", headers=HR)
        assert unknown.status_code == 404 and unknown.json()["code"] == "job_not_found"


async def test_jobs_run_one_at_a_time_in_order(database: str, kafka_bootstrap: str,
                                               topic_prefix: str) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, recompute_chunk_workers=1) as (app, api):
        await done(api, (await publish(api, POLICY))["job"])
        await lines_with_a_certificate(api, src)
        published = [await publish(api, body) for body in (RICHER, POLICY, RICHER)]
        views = [await done(api, p["job"]) for p in published]
        for earlier, later in itertools.pairwise(views):
            assert earlier["finished_at"] <= later["started_at"]
        ctx = app.state.ctx
        await assert_one_shot_agrees(ctx.pool, ctx.store, "after three jobs")


async def test_reads_and_commands_between_chunks_and_a_restart_resumes_from_the_cursor(
        database: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (app, api):
        ctx = app.state.ctx
        # The service's own runner stopped: the test works the job chunk by chunk through
        # the runner's step, as the runner would.
        [runner] = [t for t in asyncio.all_tasks() if t.get_name() == "funding-run_jobs"]
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        first = await publish(api, POLICY)
        assert (await jobs.step(ctx.pool, ctx.store, 2)).state == "done"  # type: ignore[union-attr]
        assert (await job_view(api, first["job"]))["state"] == "done"
        await lines_with_a_certificate(api, src)

        job_id = (await publish(api, RICHER))["job"]
        queued = await job_view(api, job_id)
        assert queued["state"] == "queued" and queued["started_at"] is None
        for n in (2, 4):
            stepped = await jobs.step(ctx.pool, ctx.store, 2)
            assert stepped is not None and stepped.job_id == job_id
            view = await job_view(api, job_id)
            assert view["state"] == "running"
            assert view["progress"] == {"done": n, "total": len(WORKERS),
                                        "percent": n * 100 // len(WORKERS)}
            # between chunks the ledger lock is free: reads and commands answer
            assert (await api.get("/ledger", headers=HR)).status_code == 200
            assert (await api.get("/budget", headers=HR)).status_code == 200
            allocated = await api.post("/budget/allocations", headers=HR, json={
                "allocation_id": f"a-{n}", "fund": "municipal-special", "amount_fen": 500_00})
            assert allocated.status_code == 201, allocated.text
    # the service stops mid-job (what a crash leaves is the same: the chunks committed)

    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, recompute_chunk_workers=2,
                               ) as (app, api):
        view = await done(api, job_id)
        assert view["progress"] == {"done": len(WORKERS), "total": len(WORKERS),
                                    "percent": 100}
        ctx = app.state.ctx
        # resumed from the cursor, not from the first worker: 4 done before, 3 after
        async with ctx.pool.acquire() as conn:
            assert await conn.fetchval("SELECT cursor FROM funding_jobs WHERE job_id = $1",
                                       uuid.UUID(job_id)) == max(WORKERS)
        await assert_one_shot_agrees(ctx.pool, ctx.store, "after the resumed job")


async def test_a_chunk_that_fails_in_the_worker_process_is_kept_and_tried_again(
        database: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    """In the worker process (the default), a chunk that raises rolls back, the job keeps
    the error's type and message and stays unfinished, and the runner tries again; once the
    cause is gone, the job is done and agrees with a one-shot pass."""
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, recompute_chunk_workers=3,
                               recompute_in_worker_process=True) as (app, api):
        ctx = app.state.ctx
        await done(api, (await publish(api, POLICY))["job"])
        await lines_with_a_certificate(api, src)
        # a completion whose data cannot be parsed: deriving its trainee raises
        poisoned = uuid.uuid4()
        async with ctx.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO funding_input_log (event_id, source, event_type, stream_id,
                       stream_version, recorded_at, data, class_id, roster)
                   VALUES ($1, '/songji/training', 'songji.training.ClassCompleted.v1',
                           'class-poisoned', 1, now(), $2, 'class-poisoned', $3)""",
                poisoned, {"class_id": "class-poisoned"}, ["w-poisoned"])
        job_id = (await publish(api, RICHER))["job"]

        async def failed_once() -> asyncpg.Record | None:
            async with ctx.pool.acquire() as conn:
                row = await conn.fetchrow("SELECT * FROM funding_jobs WHERE job_id = $1",
                                          uuid.UUID(job_id))
            return row if row["failures"] >= 1 else None
        row = await eventually(failed_once)
        assert row["state"] in ("queued", "running") and row["finished_at"] is None
        assert row["error"].startswith("ValidationError: ")
        async with ctx.pool.acquire() as conn:
            await conn.execute("DELETE FROM funding_input_log WHERE event_id = $1", poisoned)
        view = await done(api, job_id)
        assert view["error"] is None
        assert view["progress"]["done"] == view["progress"]["total"] == len(WORKERS)
        await assert_one_shot_agrees(ctx.pool, ctx.store, "after the failed chunk")
