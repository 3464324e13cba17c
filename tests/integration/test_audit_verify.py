"""`songji audit verify` on real stores: every chain checked, an edit named, auditors only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.store import EventStore
from tests.orgs import token
from tests.support import songji

pytestmark = pytest.mark.integration

async def store_with_events(dsn: str, count: int) -> None:
    pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
        store = EventStore(pool)
        for i in range(count):
            await store.append(f"worker-{i}", 0, [WorkerRegistered(
                worker_id=f"w{i}", gender="male", birth_year=1988)], Metadata(correlation_id="a"))
    finally:
        await pool.close()


async def test_verify_checks_every_store_and_names_the_edited_position(
    new_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    enrolment, training = await new_database(), await new_database()
    await store_with_events(enrolment, 3)
    await store_with_events(training, 2)
    env = {"SONGJI_ENROLMENT_DATABASE_URL": enrolment, "SONGJI_TRAINING_DATABASE_URL": training,
           "SONGJI_STATE_DIR": str(tmp_path), "SONGJI_TOKEN": token("auditor")}
    # The chain alone (no broker here): against sealed heads in test_audit_sealed_heads.
    stores = ["--service", "enrolment", "--service", "training", "--no-seals"]

    code, out = await songji("audit", "verify", *stores, env=env)
    assert code == 0, out
    assert "enrolment" in out and "3 events  ok" in out and "2 events  ok" in out

    conn = await asyncpg.connect(training)
    await conn.execute("UPDATE events SET stream_id = 'worker-x' WHERE position = 2")
    await conn.close()
    code, out = await songji("audit", "verify", *stores, env=env)
    assert code == 1, out
    assert "BROKEN at position 2" in out


@pytest.mark.parametrize("who", [None, "hr"])
async def test_verify_refuses_anyone_but_an_auditor(
    who: str | None, database: str, tmp_path: Path
) -> None:
    env = {"SONGJI_ENROLMENT_DATABASE_URL": database, "SONGJI_STATE_DIR": str(tmp_path),
           "SONGJI_TOKEN": token(who) if who else ""}
    code, out = await songji("audit", "verify", "--service", "enrolment", env=env)
    assert code == 3, out
    assert "refused" in out
