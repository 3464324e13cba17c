"""asyncpg pools with JSON codecs, so jsonb columns read and write Python values."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release a connection as it is. asyncpg's default reset costs a round trip per release;
    Songji's code never changes session state (its locks are transaction-scoped, and the one
    listener removes its listener before it is released)."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size,
                                     init=_init_connection, reset=_keep_session)
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool,
                      conn: asyncpg.Connection | None = None) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on ``conn`` when the caller passes one (a savepoint in the caller's
    transaction, so the caller's other writes commit or roll back with it), else on a
    connection of its own."""
    if conn is not None:
        async with conn.transaction():
            yield conn
        return
    async with pool.acquire() as own, own.transaction():
        yield own
