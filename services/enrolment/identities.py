"""Workers' sealed personal records (``worker_identities``), found by the keyed index of their
national ID number (see vault.py). Not a read model: the only copy of a name, an ID number or
a phone, written beside the registration's event in its transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg


async def lock_number(conn: asyncpg.Connection, national_id_index: bytes) -> None:
    """Serialise registrations of one national ID number until the transaction ends: the
    second waits for the first to commit, then finds its worker and is refused as a duplicate
    (instead of failing on the index's unique key). The lock key is a 64-bit hash of the keyed
    index, so it says nothing about the number; a collision of two numbers only makes their
    registrations wait for each other."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('worker_identities:' || "
        "encode($1::bytea, 'hex'), 0))", national_id_index)


async def registered_under(conn: asyncpg.Connection, national_id_index: bytes) -> str | None:
    """The worker registered with this national ID number, if any."""
    return await conn.fetchval(
        "SELECT worker_id FROM worker_identities WHERE national_id_index = $1",
        national_id_index)


async def keep(conn: asyncpg.Connection, worker_id: str, national_id_index: bytes,
               sealed: bytes) -> None:
    await conn.execute(
        """INSERT INTO worker_identities (worker_id, national_id_index, sealed, registered_at)
           VALUES ($1, $2, $3, $4)""",
        worker_id, national_id_index, sealed, datetime.now(UTC))


async def sealed_of(conn: asyncpg.Connection, worker_id: str) -> bytes | None:
    return await conn.fetchval("SELECT sealed FROM worker_identities WHERE worker_id = $1",
                               worker_id)
