"""Assessment's statistics read model: live certificates counted by occupation and level
(migrations/0002_certificate_counts.sql), kept by the projection in the appending transaction
and read a page at a time by its primary key."""

from __future__ import annotations

from typing import Any

import asyncpg


async def count_certificate(conn: asyncpg.Connection, occupation_code: str, level: int,
                            delta: int) -> None:
    """Count a certificate in its group (``delta`` +1, certified) or take it out (-1,
    revoked); a group left with none is deleted. (A decrement is an UPDATE: an upsert's
    proposed row is checked against ``certificates >= 0`` before its conflict is found.)"""
    if delta > 0:
        await conn.execute(
            "INSERT INTO certificate_counts AS c (occupation_code, level, certificates) "
            "VALUES ($1, $2, $3) ON CONFLICT (occupation_code, level) "
            "DO UPDATE SET certificates = c.certificates + excluded.certificates",
            occupation_code, level, delta)
        return
    left = await conn.fetchval(
        "UPDATE certificate_counts SET certificates = certificates + $3 "
        "WHERE occupation_code = $1 AND level = $2 RETURNING certificates",
        occupation_code, level, delta)
    if left == 0:
        await conn.execute("DELETE FROM certificate_counts WHERE occupation_code = $1 "
                           "AND level = $2 AND certificates = 0", occupation_code, level)


async def certificate_counts(conn: asyncpg.Connection, after: tuple[str | None, int | None],
                             limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` groups after the (occupation_code, level) key ``after`` (None: from
    the first), in key order: an index range scan of the primary key."""
    if after[0] is None:
        rows = await conn.fetch(
            "SELECT occupation_code, level, certificates FROM certificate_counts "
            "ORDER BY occupation_code, level LIMIT $1", limit)
    else:
        rows = await conn.fetch(
            "SELECT occupation_code, level, certificates FROM certificate_counts "
            "WHERE (occupation_code, level) > ($1, $2) ORDER BY occupation_code, level "
            "LIMIT $3", *after, limit)
    return [dict(r) for r in rows]
