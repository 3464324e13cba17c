"""Training's statistics read model: classes and their trainees counted by destination,
occupation, level and state (migrations/0004_class_list.sql).

Each class counts once, in the group of its current state, with the trainees on its roster
and, once completed, those who met the attendance threshold. Every change to a class's row in
``class_runs`` that the counts see (its state, roster or outcome) is made between
``count_class(-1)`` and ``count_class(+1)`` in one transaction, so the counts are always the
sum of ``class_runs`` by group. No worker id is kept or answered: only groups and counts."""

from __future__ import annotations

from typing import Any

import asyncpg

GROUP = ("province", "city", "occupation_code", "level", "state")
KEY = ", ".join(GROUP)
COUNTS = ("classes", "trainees", "met_threshold")
_OF_CLASS = """SELECT province, city, occupation_code, target_level AS level, state,
                      1 AS classes, enrolled AS trainees, met_threshold
                 FROM class_runs WHERE class_id = $1"""


async def count_class(conn: asyncpg.Connection, class_id: str, sign: int) -> None:
    """Add the class's row, as it is now, to its group (``sign`` +1) or take it out (-1). A
    group left with no class is deleted. (Taking out is an UPDATE: an upsert would propose a
    row of negative counts first.)

    Taking out locks the class's row first: a change to the same class in another
    transaction (an enrolment arriving while the class is completed) waits until this one
    commits and then reads the class as this one left it, so neither subtracts a row that is
    no longer there. Every transaction locks its class before any group, so two classes of one
    group never wait on each other in a cycle."""
    if sign > 0:
        await conn.execute(
            f"""INSERT INTO class_counts AS c ({KEY}, classes, trainees, met_threshold)
                SELECT * FROM ({_OF_CLASS}) g
                ON CONFLICT ({KEY}) DO UPDATE SET
                    classes = c.classes + excluded.classes,
                    trainees = c.trainees + excluded.trainees,
                    met_threshold = c.met_threshold + excluded.met_threshold""", class_id)
        return
    await conn.execute("SELECT 1 FROM class_runs WHERE class_id = $1 FOR UPDATE", class_id)
    left = await conn.fetchval(
        f"""UPDATE class_counts c SET classes = c.classes - g.classes,
                   trainees = c.trainees - g.trainees,
                   met_threshold = c.met_threshold - g.met_threshold
              FROM ({_OF_CLASS}) g
             WHERE ({', '.join('c.' + k for k in GROUP)}) = ({', '.join('g.' + k for k in GROUP)})
         RETURNING c.classes""", class_id)
    if left == 0:
        await conn.execute(
            f"""DELETE FROM class_counts c USING ({_OF_CLASS}) g
                 WHERE ({', '.join('c.' + k for k in GROUP)})
                     = ({', '.join('g.' + k for k in GROUP)}) AND c.classes = 0""", class_id)


async def class_counts(conn: asyncpg.Connection, after: tuple[Any, ...],
                       limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` groups after the group key ``after`` (all None: from the first), in key
    order: an index range scan of the primary key, whatever the number of classes."""
    columns = f"{KEY}, {', '.join(COUNTS)}"
    if after[0] is None:
        rows = await conn.fetch(
            f"SELECT {columns} FROM class_counts ORDER BY {KEY} LIMIT $1", limit)
    else:
        rows = await conn.fetch(
            f"SELECT {columns} FROM class_counts WHERE ({KEY}) > ($1, $2, $3, $4, $5) "
            f"ORDER BY {KEY} LIMIT $6", *after, limit)
    return [dict(r) for r in rows]
