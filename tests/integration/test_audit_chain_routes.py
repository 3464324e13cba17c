"""A service's auditor routes on its own store: a clean chain verifies against its sealed heads,
an edited event is named by its position, the verdict survives a restart, and only an auditor
may ask (401 without a token, 403 for any other role, and nothing recorded then). The runs are
bounded: one at a time, failed when too long, interrupted when the service stops or dies."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from services.enrolment.app import SPEC as ENROLMENT
from shared.audit.jobs import ChainVerifications
from shared.eventsourcing.heads import Seals, read_seals
from shared.eventsourcing.store import EventStore
from tests.integration.test_skeleton_services import register
from tests.orgs import auth
from tests.support import eventually, fetch, public_keys_in_tests, running_service

pytestmark = pytest.mark.integration

AUDITOR = auth("auditor")


async def finished(client: httpx.AsyncClient) -> dict[str, Any]:
    """The chain's status once the latest verification is over."""
    async def over() -> dict[str, Any] | None:
        answer = await client.get("/audit/chain", headers=AUDITOR)
        assert answer.status_code == 200, answer.text
        status = answer.json()
        run = status["verification"]
        return status if run is not None and run["state"] != "running" else None
    return await eventually(over, seconds=30, interval=0.1)


async def test_a_clean_chain_verifies_and_an_edited_event_is_named_after_a_restart(
        database: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    def running() -> Any:
        return running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, head_seal_interval=0.2)

    keys = public_keys_in_tests()

    async def sealed_at_least(position: int) -> bool:
        seals = await read_seals(kafka_bootstrap, topic_prefix, ["enrolment"], keys,
                                 idle_ms=300)
        latest = seals["enrolment"].latest
        return latest is not None and latest.position >= position

    async with running() as (_, client):
        for serial in range(3):
            await register(client, serial)
        head = (await client.get("/audit/chain", headers=AUDITOR)).json()["head_position"]
        assert head >= 3
        await eventually(lambda: sealed_at_least(head), seconds=30)

        started = await client.post("/audit/chain/verifications", headers=AUDITOR)
        assert started.status_code == 202, started.text
        assert started.json()["state"] == "running"
        assert started.json()["requested_by"] == "auditor"
        status = await finished(client)
        run = status["verification"]
        assert run["id"] == started.json()["id"]
        assert run["state"] == "verified", run
        assert run["checked"] == run["total"] == head
        assert run["first_bad_position"] is None and run["seals_checked"] is True
        assert status["last_sealed_head"]["position"] == head
        stored = await fetch(database, "SELECT last_hash FROM event_head")
        assert status["head_chain_hash"] == bytes(stored[0]["last_hash"]).hex()
        assert status["last_sealed_head"]["chain_hash"] == status["head_chain_hash"]

    conn = await asyncpg.connect(database)
    try:
        await conn.execute("UPDATE events SET stream_id = 'worker-x' WHERE position = 2")
    finally:
        await conn.close()

    async with running() as (_, client):
        # The verdict was kept in the store's database: the restart did not lose it.
        kept = (await client.get("/audit/chain", headers=AUDITOR)).json()["verification"]
        assert kept["id"] == run["id"] and kept["state"] == "verified"

        again = await client.post("/audit/chain/verifications", headers=AUDITOR)
        assert again.status_code == 202, again.text
        broken = (await finished(client))["verification"]
        assert broken["id"] == again.json()["id"]
        assert broken["state"] == "broken", broken
        assert broken["first_bad_position"] == 2
        assert broken["checked"] == 1
        assert "does not match its hash" in broken["reason"]


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Bearer not-a-known-token"}, 401),
    (auth("hr"), 403),
    (auth("station-fukang"), 403),
])
async def test_only_an_auditor_may_see_or_verify_the_chain(
        headers: dict[str, str], status: int, database: str, kafka_bootstrap: str,
        topic_prefix: str) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, client):
        seen = await client.get("/audit/chain", headers=headers)
        asked = await client.post("/audit/chain/verifications", headers=headers)
        assert (seen.status_code, asked.status_code) == (status, status), asked.text
        if status == 403:
            assert asked.json()["code"] == "wrong_role"
        rows = await fetch(database, "SELECT count(*) AS n FROM chain_verifications")
        assert rows[0]["n"] == 0


async def _never() -> Seals:
    await asyncio.sleep(3600)  # a heads topic that takes for ever to read
    return Seals()


async def test_a_run_too_long_fails_one_cut_by_a_stop_is_interrupted_and_one_at_a_time(
        store: EventStore, pool: asyncpg.Pool) -> None:
    slow = ChainVerifications(store, service="enrolment", read_seals=_never, timeout=0.3)
    first, started = await slow.start("auditor")
    again, started_again = await slow.start("auditor")
    assert started and not started_again and again.id == first.id  # one at a time
    await slow.wait()
    failed = (await slow.status()).verification
    assert failed is not None and failed.id == first.id and failed.state == "failed"
    assert "not finished within 0.3 seconds" in (failed.reason or "")

    stopped = ChainVerifications(store, service="enrolment", read_seals=_never)
    cut, _ = await stopped.start("auditor")
    await asyncio.sleep(0.1)
    await stopped.close()  # the service stops
    status = (await stopped.status()).verification
    assert status is not None and status.id == cut.id and status.state == "interrupted"


async def test_a_run_whose_process_died_is_read_as_interrupted(
        store: EventStore, pool: asyncpg.Pool) -> None:
    """A crash leaves the row 'running' with a heartbeat that no longer moves."""
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO chain_verifications (requested_by, heartbeat_at) "
                           "VALUES ('auditor', now() - interval '5 minutes')")
    verifications = ChainVerifications(store, service="enrolment", read_seals=_never,
                                       stale_after=60)
    latest = (await verifications.status()).verification
    assert latest is not None and latest.state == "interrupted"
    run, started = await verifications.start("auditor")  # not blocked by the dead one
    assert started and run.id != latest.id
    await verifications.close()
