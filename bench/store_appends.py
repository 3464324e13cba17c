"""Event-store appends per second, against the eventsourcing library's PostgreSQL recorder
and against raw asyncpg inserts into a plain table (the ceiling).

Songji is measured twice, each time like the baseline it is compared with: taking a pooled
connection for every append (``store.append(...)``, as the recorder takes one from its pool
for every insert) and on one connection held for the run (``store.append(..., conn=...)``,
as the raw inserts run on one connection). Each append is its own transaction either way."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg
from eventsourcing.persistence import StoredEvent as EsStoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from bench.timing import Rate, measure_rate
from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.store import EventStore
from shared.infra.postgres import create_database

META = Metadata(correlation_id="bench")
EVENT = WorkerRegistered(worker_id="0" * 32, gender="female", birth_year=1990)
PAYLOAD = EVENT.model_dump_json().encode()


async def _songji(dsn: str, commits: int, batch: int, repeats: int) -> dict[str, Rate]:
    pool = await create_pool(dsn, max_size=2)
    async with pool.acquire() as conn:
        await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
    store = EventStore(pool)
    events = [EVENT] * batch

    async def pooled() -> int:
        for _ in range(commits):
            await store.append(uuid.uuid4().hex, 0, events, META)
        return commits * batch

    try:
        rates = {"songji": await measure_rate("songji event store, pooled", pooled,
                                              repeats=repeats)}
        async with pool.acquire() as held:
            async def one_connection() -> int:
                for _ in range(commits):
                    await store.append(uuid.uuid4().hex, 0, events, META, conn=held)
                return commits * batch

            rates["songji_one_connection"] = await measure_rate(
                "songji event store, one connection", one_connection, repeats=repeats)
        return rates
    finally:
        await pool.close()


async def _row_alone(dsn: str, commits: int, batch: int, repeats: int) -> Rate:
    """The store's own row (its table's columns, indexes and JSON) written by plain INSERTs
    as the raw baseline writes its rows: no head lock, hash chain or version check. What is
    left between this and the store is the price of those guarantees."""
    conn = await asyncpg.connect(dsn)
    await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
    meta = META.model_dump_json()
    now = datetime.now(UTC)
    positions = itertools.count(1)
    columns = ("INSERT INTO events (position, event_id, stream_id, version, event_type, "
               "schema_version, data, metadata, recorded_at, hash) ")
    one = columns + "VALUES ($1, $2, $3, 1, $4, 1, $5::text::jsonb, $6::text::jsonb, $7, $8)"
    # Many rows as the store writes them: one statement over arrays, the cheapest way here.
    many = columns + ("SELECT p, id, $3, v, $4, 1, d::jsonb, $6::text::jsonb, $7, $8 "
                      "FROM unnest($1::bigint[], $2::uuid[], $9::int[], $5::text[]) "
                      "AS r(p, id, v, d)")
    event_type, payload = EVENT.ce_type(), PAYLOAD.decode()

    async def run() -> int:
        for _ in range(commits):
            stream = uuid.uuid4().hex
            if batch == 1:
                await conn.execute(one, next(positions), uuid.uuid4(), stream, event_type,
                                   payload, meta, now, b"h" * 32)
            else:
                await conn.execute(many, [next(positions) for _ in range(batch)],
                                   [uuid.uuid4() for _ in range(batch)], stream, event_type,
                                   [payload] * batch, meta, now, b"h" * 32,
                                   list(range(1, batch + 1)))
        return commits * batch

    try:
        return await measure_rate("the store's row alone", run, repeats=repeats)
    finally:
        await conn.close()


async def _raw(dsn: str, commits: int, batch: int, repeats: int) -> Rate:
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE IF NOT EXISTS raw_events (id bigserial PRIMARY KEY, "
                       "stream_id text NOT NULL, data jsonb NOT NULL)")
    rows = [(uuid.uuid4().hex, PAYLOAD.decode())] * batch

    async def run() -> int:
        for _ in range(commits):
            if batch == 1:
                await conn.execute("INSERT INTO raw_events (stream_id, data) VALUES ($1, $2)",
                                   *rows[0])
            else:
                await conn.executemany(
                    "INSERT INTO raw_events (stream_id, data) VALUES ($1, $2)", rows)
        return commits * batch

    try:
        return await measure_rate("raw asyncpg insert", run, repeats=repeats)
    finally:
        await conn.close()


def _eventsourcing(dsn: str, commits: int, batch: int, repeats: int) -> Rate:
    url = urlsplit(dsn)
    datastore = PostgresDatastore(dbname=url.path.lstrip("/"), host=url.hostname or "",
                                  port=url.port or 5432, user=url.username or "",
                                  password=url.password or "")
    recorder = PostgresApplicationRecorder(datastore, events_table_name="es_events")
    recorder.create_table()

    async def run() -> int:
        for _ in range(commits):
            originator = uuid.uuid4()
            recorder.insert_events([
                EsStoredEvent(originator_id=originator, originator_version=v + 1,
                              topic="bench:WorkerRegistered", state=PAYLOAD)
                for v in range(batch)])
        return commits * batch

    try:
        return asyncio.run(measure_rate("eventsourcing recorder", run, repeats=repeats))
    finally:
        datastore.close()


async def bench_appends(server_url: str, *, batch: int, commits: int, repeats: int = 3
                        ) -> dict[str, Rate]:
    prefix = f"bench_{os.getpid()}_{batch}"
    songji = await _songji(await create_database(server_url, f"{prefix}_s"), commits, batch,
                           repeats)
    raw = await _raw(await create_database(server_url, f"{prefix}_r"), commits, batch, repeats)
    row_alone = await _row_alone(await create_database(server_url, f"{prefix}_o"), commits,
                                 batch, repeats)
    es_dsn = await create_database(server_url, f"{prefix}_e")
    eventsourcing = await asyncio.to_thread(_eventsourcing, es_dsn, commits, batch, repeats)
    return {**songji, "raw": raw, "row_alone": row_alone, "eventsourcing": eventsourcing}
