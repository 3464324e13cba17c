"""Event-store appends per second against Eventide's Message DB (``write_message``).

Message DB (``bench/message_db/``, vendored SQL of the npm package ``@eventide/message-db``) is
installed into a fresh database of the benchmark's server, as its ``install.sh`` installs it.
Both stores take a pooled connection for every append and every append is its own
transaction, each to a new stream with the expected version of a new stream:

- Songji: ``store.append(stream, 0, events)``: one statement, whatever the number of events;
- Message DB: one event is ``write_message(id, stream, type, data, metadata, -1)``; 100 events
  are 100 ``write_message`` calls in one transaction with expected versions -1, 0, ..., 98,
  sent with asyncpg's ``executemany`` (pipelined: one round trip for the 100 calls).

Rounds alternate between the two stores and the median round counts, so a machine that slows
down or speeds up during the run moves both alike.
"""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import structlog

from bench.store_appends import EVENT, META, PAYLOAD
from bench.timing import Rate, measure_rate
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.store import EventStore
from shared.infra.postgres import create_database

log = structlog.get_logger(__name__)

SQL = Path(__file__).parent / "message_db" / "database"

# The files Message DB's ``database/install.sh`` runs (with the ``install-*.sh`` it sources),
# in its order.
ROLE = ["roles/message-store.sql"]
STRUCTURE = ["schema/message-store.sql", "extensions/pgcrypto.sql", "tables/messages.sql",
             "types/message.sql"]
FUNCTIONS = [f"functions/{name}.sql" for name in (
    "message-store-version", "hash-64", "acquire-lock", "category", "is-category", "id",
    "cardinal-id", "stream-version", "write-message", "get-stream-messages",
    "get-category-messages", "get-last-stream-message")]
INDEXES = ["indexes/messages-id.sql", "indexes/messages-stream.sql",
           "indexes/messages-category.sql"]
VIEWS = [f"views/{name}.sql" for name in (
    "stream-summary", "type-summary", "stream-type-summary", "type-stream-summary",
    "category-type-summary", "type-category-summary")]
PRIVILEGES = [f"privileges/{name}.sql" for name in (
    "schema", "table", "sequence", "functions", "views")]

# Message DB's functions name their table and each other unqualified: its clients put its
# schema first on the search path.
SEARCH_PATH = {"search_path": "message_store,public"}
WRITE = "SELECT message_store.write_message($1, $2, $3, $4, $5, $6)"
# Stream names are category-id; write_message locks the category (an advisory lock), so all
# writes here serialise on one lock, as Songji's serialise on its head row.
CATEGORY = "worker"
NO_STREAM = -1  # Message DB's expected version of a stream that has no message yet

Run = Callable[[], Awaitable[int]]


async def install_message_db(dsn: str) -> None:
    """Message DB's schema, table, functions, indexes, views and privileges in ``dsn``.

    Two steps differ from ``install.sh``, for the embedded server: ``pgcrypto`` is skipped
    when the server has no such extension (Message DB uses it only for ``gen_random_uuid``,
    built into PostgreSQL since 13), and the role and its privileges are skipped when the
    benchmark's user may not create roles (an external server): the benchmark writes as its
    own user either way."""
    conn = await asyncpg.connect(dsn)
    try:
        with_role = await _run(conn, ROLE, skip=asyncpg.InsufficientPrivilegeError)
        for name in STRUCTURE:
            if name.startswith("extensions/"):
                await _pgcrypto(conn, name)
            else:
                await conn.execute((SQL / name).read_text())
        for name in FUNCTIONS + INDEXES + VIEWS + (PRIVILEGES if with_role else []):
            await conn.execute((SQL / name).read_text())
    finally:
        await conn.close()


async def _run(conn: asyncpg.Connection, names: list[str],
               skip: type[Exception]) -> bool:
    try:
        for name in names:
            await conn.execute((SQL / name).read_text())
    except skip:
        log.warning("message db install step skipped", files=names)
        return False
    return True


async def _pgcrypto(conn: asyncpg.Connection, name: str) -> None:
    available = await conn.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'")
    if available:
        await conn.execute((SQL / name).read_text())
        return
    if conn.get_server_version().major < 13:
        raise RuntimeError("Message DB needs pgcrypto's gen_random_uuid before PostgreSQL 13")


async def _message_db(dsn: str, commits: int, batch: int) -> tuple[Run, asyncpg.Pool]:
    await install_message_db(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings=SEARCH_PATH)
    assert pool is not None
    event_type, data, metadata = type(EVENT).__name__, PAYLOAD.decode(), META.model_dump_json()

    async def run() -> int:
        for _ in range(commits):
            stream = f"{CATEGORY}-{uuid.uuid4().hex}"
            async with pool.acquire() as conn:
                if batch == 1:
                    await conn.fetchval(WRITE, str(uuid.uuid4()), stream, event_type, data,
                                        metadata, NO_STREAM)
                else:
                    async with conn.transaction():
                        await conn.executemany(WRITE, [
                            (str(uuid.uuid4()), stream, event_type, data, metadata, expected)
                            for expected in range(NO_STREAM, NO_STREAM + batch)])
        return commits * batch

    return run, pool


async def _songji(dsn: str, commits: int, batch: int) -> tuple[Run, asyncpg.Pool]:
    pool = await create_pool(dsn, max_size=2)
    async with pool.acquire() as conn:
        await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
    store = EventStore(pool)
    events = [EVENT] * batch

    async def run() -> int:
        for _ in range(commits):
            await store.append(uuid.uuid4().hex, 0, events, META)
        return commits * batch

    return run, pool


async def bench_message_db(server_url: str, *, batch: int, commits: int, repeats: int = 3
                           ) -> dict[str, Rate]:
    """Events per second of each store, median of ``repeats`` alternating rounds."""
    prefix = f"bench_{os.getpid()}_mdb{batch}"
    songji, songji_pool = await _songji(await create_database(server_url, f"{prefix}_s"),
                                        commits, batch)
    message_db, message_db_pool = await _message_db(
        await create_database(server_url, f"{prefix}_m"), commits, batch)
    runs = {"songji": ("songji event store, pooled", songji),
            "message_db": ("Message DB write_message, pooled", message_db)}
    rounds: dict[str, list[float]] = {key: [] for key in runs}
    try:
        for _ in range(repeats):
            for key, (name, run) in runs.items():
                rounds[key] += (await measure_rate(name, run, repeats=1)).runs
    finally:
        await songji_pool.close()
        await message_db_pool.close()
    return {key: Rate(name, statistics.median(rounds[key]), rounds[key])
            for key, (name, _) in runs.items()}
