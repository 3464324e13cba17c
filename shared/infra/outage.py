"""A real outage of one database on a shared PostgreSQL server, for tests and fault injection.

The database stops accepting connections (``ALTER DATABASE ... ALLOW_CONNECTIONS false``) and
every session it has is terminated, so its service's pool finds it gone exactly as after a
crash or a network cut: the connections in use break, new ones are refused. The other
databases on the server are untouched. Ending the outage allows connections again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def refuse_connections(server_url: str, database: str) -> int:
    """Take ``database`` away: refuse new connections, end its sessions; how many ended."""
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"ALTER DATABASE {_quoted(database)} ALLOW_CONNECTIONS false")
        return await conn.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = $1 AND pid <> pg_backend_pid()""", database)
    finally:
        await conn.close()


async def allow_connections(server_url: str, database: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"ALTER DATABASE {_quoted(database)} ALLOW_CONNECTIONS true")
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def database_outage(server_url: str, database: str) -> AsyncIterator[int]:
    """The database is away inside the block (yields how many sessions were ended), back
    after it, whatever happens inside."""
    ended = await refuse_connections(server_url, database)
    try:
        yield ended
    finally:
        await allow_connections(server_url, database)
