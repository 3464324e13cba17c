"""Sealed heads on the real broker and stores: a running service seals its store's head;
`songji audit verify` checks every chain against the seals, so an event rewritten in the
database with the chain and head recomputed, a store cut short, a store never sealed and a
seal signed by another key are all caught, naming the store and the position."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from services.training.app import SPEC as TRAINING
from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.hashing import chain_hash
from shared.eventsourcing.heads import HeadSealer, read_seals
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.signing import PublicKeys, SigningKey, new_key_pair
from shared.eventsourcing.store import _COLUMNS, EventStore, _row_to_event
from shared.eventsourcing.topics import heads_topic
from tests.orgs import token
from tests.support import (
    TEST_PRIVATE_KEYS,
    TEST_PUBLIC_KEYS,
    eventually,
    running_service,
    songji,
)

pytestmark = pytest.mark.integration

META = Metadata(correlation_id="sealed-heads")
PUBLIC = TEST_PUBLIC_KEYS  # the services' keys in tests


async def _append(dsn: str, count: int, first: int = 0) -> None:
    pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
        store = EventStore(pool)
        for i in range(first, first + count):
            await store.append(f"worker-{i}", 0, [WorkerRegistered(
                worker_id=f"w{i}", gender="male", birth_year=1988)], META)
    finally:
        await pool.close()


async def _seal(dsn: str, service: str, bootstrap: str, prefix: str,
                key: str | None = None) -> None:
    """What the service's sealer does on one turn."""
    pool = await create_pool(dsn, max_size=1)
    try:
        sealer = HeadSealer(pool, service=service,
                            key=SigningKey(key or TEST_PRIVATE_KEYS[service]),
                            bootstrap_servers=bootstrap, topic=heads_topic(service, prefix))
        assert await sealer.seal_if_moved() is not None
        await sealer._close()
    finally:
        await pool.close()


async def _rewrite_and_recompute(dsn: str, position: int) -> None:
    """An attacker with the database: edit one event, then recompute every hash from there
    and the head, so the chain is consistent in itself again."""
    pool = await create_pool(dsn, max_size=1)  # its codec reads jsonb as the store does
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("""UPDATE events SET data = jsonb_set(data, '{birth_year}', '1950')
                                  WHERE position = $1""", position)
            previous = b""
            for row in await conn.fetch(f"SELECT {_COLUMNS} FROM events ORDER BY position"):
                event = _row_to_event(row)
                if event.position >= position:
                    new = chain_hash(previous, event.position, event.content_hash())
                    await conn.execute("UPDATE events SET hash = $2 WHERE position = $1",
                                       event.position, new)
                    previous = new
                else:
                    previous = event.hash
            await conn.execute("UPDATE event_head SET last_hash = $1", previous)
    finally:
        await pool.close()


async def _truncate(dsn: str, keep: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM events WHERE position > $1", keep)
        await conn.execute("""UPDATE event_head SET last_position = $1,
                              last_hash = (SELECT hash FROM events WHERE position = $1)""", keep)
    finally:
        await conn.close()


@pytest.fixture
async def stores(new_database: Callable[[], Awaitable[str]], kafka_bootstrap: str,
                 topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    """Enrolment sealed at positions 1 and 3, training sealed at 2: the auditor's env."""
    enrolment, training = await new_database(), await new_database()
    await _append(enrolment, 1)
    await _seal(enrolment, "enrolment", kafka_bootstrap, topic_prefix)
    await _append(enrolment, 2, first=1)
    await _seal(enrolment, "enrolment", kafka_bootstrap, topic_prefix)
    await _append(training, 2)
    await _seal(training, "training", kafka_bootstrap, topic_prefix)
    return {"SONGJI_ENROLMENT_DATABASE_URL": enrolment, "SONGJI_TRAINING_DATABASE_URL": training,
            "SONGJI_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SONGJI_TOPIC_PREFIX": topic_prefix,
            "SONGJI_PUBLIC_KEYS": PUBLIC, "SONGJI_STATE_DIR": str(tmp_path),
            "SONGJI_TOKEN": token("auditor")}


VERIFY = ("audit", "verify", "--service", "enrolment", "--service", "training")


async def test_untampered_stores_match_their_seals(stores: dict[str, str]) -> None:
    code, out = await songji(*VERIFY, env=stores)
    assert code == 0, out
    assert "3 events  ok, sealed at position 3 (" in out
    assert "2 events  ok, sealed at position 2 (" in out
    # events after the last seal: checked by the chain alone until the next seal, and said so
    await _append(stores["SONGJI_TRAINING_DATABASE_URL"], 2, first=2)
    code, out = await songji(*VERIFY, env=stores)
    assert code == 0, out
    assert "4 events  ok, sealed at position 2" in out and "not sealed yet: the last 2" in out


async def test_a_rewrite_with_the_chain_recomputed_is_caught(stores: dict[str, str]) -> None:
    await _rewrite_and_recompute(stores["SONGJI_ENROLMENT_DATABASE_URL"], 2)
    # The chain alone is consistent again: what verify checked before seals.
    code, out = await songji(*VERIFY, "--no-seals", env=stores)
    assert code == 0, out
    code, out = await songji(*VERIFY, env=stores)
    assert code == 1, out
    enrolment = next(line for line in out.splitlines() if "enrolment" in line)
    assert "BROKEN at position 3" in enrolment and "after position 1 was rewritten" in enrolment
    assert "2 events  ok, sealed at position 2" in out  # training untouched


async def test_a_store_cut_short_is_caught(stores: dict[str, str]) -> None:
    await _truncate(stores["SONGJI_TRAINING_DATABASE_URL"], 1)
    code, out = await songji(*VERIFY, env=stores)
    assert code == 1, out
    training = next(line for line in out.splitlines() if "training" in line)
    assert "BROKEN at position 2" in training and "sealed position 2" in training


async def test_a_store_never_sealed_and_a_forged_seal_fail(
        stores: dict[str, str], new_database: Callable[[], Awaitable[str]],
        kafka_bootstrap: str, topic_prefix: str) -> None:
    assessment = await new_database()
    await _append(assessment, 2)
    # Sealed with a key that is not assessment's: refused, so the store counts as unsealed.
    await _seal(assessment, "assessment", kafka_bootstrap, topic_prefix, key=new_key_pair()[0])
    env = {**stores, "SONGJI_ASSESSMENT_DATABASE_URL": assessment}
    code, out = await songji(*VERIFY, "--service", "assessment", env=env)
    assert code == 1, out
    line = next(line for line in out.splitlines() if "assessment" in line)
    assert "NOT SEALED" in line and "1 records on its heads topic did not verify" in line


async def test_verify_needs_the_public_keys_unless_seals_are_declined(
        stores: dict[str, str]) -> None:
    without = {k: v for k, v in stores.items() if k != "SONGJI_PUBLIC_KEYS"}
    code, out = await songji(*VERIFY, env=without)
    assert code == 2 and "SONGJI_PUBLIC_KEYS" in out, out


async def test_a_running_service_seals_its_head_and_seals_it_again_when_it_stops(
        database: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    private = TEST_PRIVATE_KEYS["training"]
    keys = PublicKeys.from_setting(PUBLIC)

    async def sealed_position() -> int:
        seals = await read_seals(kafka_bootstrap, topic_prefix, ["training"], keys, idle_ms=300)
        latest = seals["training"].latest
        return latest.position if latest else 0

    def running(interval: float):
        return running_service(TRAINING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, signing_key=private,
                               public_keys=PUBLIC, head_seal_interval=interval)

    async def register(app: object, worker: str) -> None:
        store = app.state.ctx.store  # type: ignore[attr-defined]
        await store.append(f"worker-{worker}", 0, [WorkerRegistered(
            worker_id=worker, gender="male", birth_year=1990)], META)

    # No turn comes in an hour: only the seal made on the way out can seal the event.
    async with running(3600) as (app, _):
        await register(app, "w1")
    assert await sealed_position() == 1
    async with running(0.2) as (app, _):
        await register(app, "w2")
        assert await eventually(lambda: _at(sealed_position, 2)) == 2


async def _at(position: Callable[[], Awaitable[int]], wanted: int) -> int:
    now = await position()
    return now if now >= wanted else 0
