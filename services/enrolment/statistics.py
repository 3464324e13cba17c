"""Enrolment's statistics read model: live enrolments counted by site, occupation, gender and
level (migrations/0003_enrolment_counts.sql), kept by the projection in the appending
transaction and read a page at a time by its primary key.

No worker id is kept or answered: only groups and their counts."""

from __future__ import annotations

from typing import Any

import asyncpg

GROUP = ("province", "city", "site_name", "occupation_code", "gender", "level")
SITE = ("province", "city", "site_name")
KEY = ", ".join(GROUP)
SAME_GROUP = (f"({', '.join('c.' + k for k in GROUP)}) = "
              f"({', '.join('g.' + k for k in GROUP)})")
NO_SITE = ""  # a key part stands for a missing work site's part (never a real one: min 1 char)


async def count_enrolment(conn: asyncpg.Connection, enrolment_id: str, delta: int) -> None:
    """Count the enrolment in its group (``delta`` +1, enrolled) or take it out (-1,
    withdrawn); a group left with none is deleted. Runs after the enrolment row is written,
    in its transaction. (A decrement is an UPDATE: an upsert's proposed row is checked
    against ``workers >= 0`` before its conflict is found.)"""
    group = """SELECT coalesce(p.province, $2) AS province, coalesce(p.city, $2) AS city,
                       coalesce(p.site_name, $2) AS site_name, e.occupation_code, p.gender,
                       e.target_level AS level
                FROM enrolments e JOIN worker_profiles p USING (worker_id)
                WHERE e.enrolment_id = $1"""
    if delta > 0:
        await conn.execute(
            f"""INSERT INTO enrolment_counts AS c ({KEY}, workers)
                SELECT *, $3::integer FROM ({group}) g
                ON CONFLICT ({KEY}) DO UPDATE SET workers = c.workers + excluded.workers""",
            enrolment_id, NO_SITE, delta)
        return
    left = await conn.fetchval(
        f"""UPDATE enrolment_counts c SET workers = c.workers + $3 FROM ({group}) g
            WHERE {SAME_GROUP} RETURNING c.workers""", enrolment_id, NO_SITE, delta)
    if left == 0:
        await conn.execute(
            f"""DELETE FROM enrolment_counts c USING ({group}) g
                WHERE {SAME_GROUP} AND c.workers = 0""", enrolment_id, NO_SITE)


async def enrolment_counts(conn: asyncpg.Connection, after: tuple[Any, ...],
                           limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` groups after the group key ``after`` (all None: from the first), in key
    order: an index range scan of the primary key, whatever the number of enrolments."""
    columns = f"{KEY}, workers"
    if after[0] is None:
        rows = await conn.fetch(
            f"SELECT {columns} FROM enrolment_counts ORDER BY {KEY} LIMIT $1",
            limit)
    else:
        rows = await conn.fetch(
            f"SELECT {columns} FROM enrolment_counts WHERE ({KEY}) > ($1, $2, $3, $4, $5, $6) "
            f"ORDER BY {KEY} LIMIT $7", *after, limit)
    return [dict(r) for r in rows]


def shown(group: dict[str, Any]) -> dict[str, Any]:
    """A group as the route answers it: a missing site's parts are null."""
    return {k: (None if k in SITE and v == NO_SITE else v) for k, v in group.items()}
