"""The read model of matches: who fits each open vacancy, scored by the pure scorer
(``domain/matching.py``, the one place the rules live), kept current in the transaction of
every event that changes a score, and read a page at a time on an index.

What keeps it (each in the transaction that records the event):

- a vacancy posted: its matches are scored over its candidates (``build_vacancy``), in the
  posting's transaction when they are at most ``INLINE_BUILD_LIMIT``; a larger slice is queued
  and built by ``build_queued`` in chunks of ``CHUNK`` workers, one transaction each, and
  its matches answer 503 ``matches_being_built`` until the last chunk is in;
- a vacancy closed (withdrawn or filled): its rows are deleted;
- a worker's certificate issued or revoked, their work site (registration) or availability
  (intake survey), their placement and a follow-up saying they left: the worker is scored
  again against the open vacancies in their certified occupations (``rescore_worker``),
  which is bounded by those vacancies, not by the workers.

An institution's suspension does not enter matching (the scorer does not read it), so it
changes no row. A vacancy past its closing date has no event: its rows stay until it is
closed, and both reads leave it out by ``today`` (``is_open``).

Writers of one occupation's rows take that occupation's transaction lock first, so a posting
and a certification committing at the same time cannot each miss the other. Locks are taken
in occupation order; only when a worker's certificate in a new occupation commits while they
are being scored is one taken out of order, and a deadlock that may then follow is a transient
failure (the inbox applies the event again).

Rebuilding (``rebuild``) empties the table and queues every vacancy not ended: the rows are a
function of the other read models (vacancies, certificates, worker facts, referrals), which
are themselves kept from the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

import asyncpg

from services.employment import projections
from services.employment.domain.matching import Match, score

# Candidates scored in the posting's own transaction at most: 2,000 took 0.4 to 1.1 s on a
# busy 2-CPU machine; a vacancy with more is built in the background, CHUNK workers per
# transaction.
INLINE_BUILD_LIMIT = 2000
CHUNK = 1000

_LOCK = "employment.matches:"
_OPEN = "v.ended IS NULL AND v.hired < v.headcount"


async def _lock(conn: asyncpg.Connection, occupations: Iterable[str]) -> None:
    """The occupations' transaction locks, in a fixed order (no deadlock between writers)."""
    for occupation in sorted(set(occupations)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                           _LOCK + occupation)


async def _store(conn: asyncpg.Connection, matches: Sequence[Match]) -> None:
    await conn.executemany(
        """INSERT INTO vacancy_matches (vacancy_id, worker_id, score, criteria)
           VALUES ($1, $2, $3, $4) ON CONFLICT (vacancy_id, worker_id) DO UPDATE SET
           score = excluded.score, criteria = excluded.criteria""",
        [(m.vacancy_id, m.worker_id, m.score, [asdict(c) for c in m.criteria])
         for m in matches])


# -- keeping it --------------------------------------------------------------------------------

async def vacancy_posted(conn: asyncpg.Connection, vacancy_id: str) -> None:
    """Score the new vacancy's candidates now when they are few, else queue it."""
    row = await projections.vacancy(conn, vacancy_id)
    assert row is not None  # projected just before, in this transaction
    await _lock(conn, [row["occupation_code"]])
    many = await conn.fetchval(
        """SELECT count(*) FROM (SELECT 1 FROM worker_certificates WHERE NOT revoked
               AND occupation_code = $1 AND level <= $2 LIMIT $3) c""",
        row["occupation_code"], row["minimum_level"], INLINE_BUILD_LIMIT + 1)
    if many > INLINE_BUILD_LIMIT:
        await conn.execute("INSERT INTO vacancy_matches_to_build (vacancy_id) VALUES ($1) "
                           "ON CONFLICT (vacancy_id) DO UPDATE SET built_after = NULL",
                           vacancy_id)
        return
    after: str | None = None
    while (after := await _build_chunk(conn, row, after)) is not None:
        pass


async def vacancy_closed(conn: asyncpg.Connection, vacancy_id: str) -> None:
    occupation = await conn.fetchval(
        "SELECT occupation_code FROM vacancies WHERE vacancy_id = $1", vacancy_id)
    await _lock(conn, [occupation] if occupation else [])
    await conn.execute("DELETE FROM vacancy_matches WHERE vacancy_id = $1", vacancy_id)
    await conn.execute("DELETE FROM vacancy_matches_to_build WHERE vacancy_id = $1", vacancy_id)


async def rescore_worker(conn: asyncpg.Connection, worker_id: str) -> None:
    """The worker's rows anew from what is known of them now, against every vacancy not ended
    in the occupations they hold (or held) a certificate in."""
    locked: set[str] = set()
    while True:  # a certificate in a new occupation may commit meanwhile: lock that one too
        held = {r["occupation_code"] for r in await conn.fetch(
            "SELECT DISTINCT occupation_code FROM worker_certificates WHERE worker_id = $1",
            worker_id)}
        if held <= locked:
            break
        await _lock(conn, held - locked)
        locked |= held
    await conn.execute("DELETE FROM vacancy_matches WHERE worker_id = $1", worker_id)
    candidate = await projections.candidate(conn, worker_id)
    if candidate is None or candidate.placed or not candidate.levels:
        return
    rows = await conn.fetch(
        f"""SELECT * FROM vacancies v WHERE {_OPEN}
            AND occupation_code = ANY($1::text[])""", sorted(candidate.levels))
    found = (score(projections.opening_of(dict(r)), candidate) for r in rows)
    await _store(conn, [m for m in found if m is not None])


# -- building a vacancy's matches chunk by chunk ------------------------------------------------

async def _build_chunk(conn: asyncpg.Connection, vacancy: dict[str, Any],
                       after: str | None) -> str | None:
    """Score the next ``CHUNK`` candidates (in worker id order after ``after``); the last
    worker id scored, or None when no candidate was left."""
    ids = [r["worker_id"] for r in await conn.fetch(
        """SELECT DISTINCT worker_id FROM worker_certificates WHERE NOT revoked
               AND occupation_code = $1 AND level <= $2 AND worker_id > $3
           ORDER BY worker_id LIMIT $4""",
        vacancy["occupation_code"], vacancy["minimum_level"], after or "", CHUNK)]
    if not ids:
        return None
    opening = projections.opening_of(vacancy)
    found = (score(opening, c) for c in await projections.candidates_among(conn, ids))
    await _store(conn, [m for m in found if m is not None])
    return ids[-1]


async def build_step(conn: asyncpg.Connection) -> bool:
    """One chunk of one queued vacancy, in the caller's transaction; False when none is
    queued (or all are being built by other copies)."""
    queued = await conn.fetchrow(
        "SELECT vacancy_id, built_after FROM vacancy_matches_to_build "
        "ORDER BY vacancy_id LIMIT 1 FOR UPDATE SKIP LOCKED")
    if queued is None:
        return False
    vacancy_id = queued["vacancy_id"]
    vacancy = await projections.vacancy(conn, vacancy_id)
    if vacancy is None or vacancy["ended"] is not None:
        await conn.execute("DELETE FROM vacancy_matches_to_build WHERE vacancy_id = $1",
                           vacancy_id)
        return True
    await _lock(conn, [vacancy["occupation_code"]])
    last = await _build_chunk(conn, vacancy, queued["built_after"])
    if last is None:
        await conn.execute("DELETE FROM vacancy_matches_to_build WHERE vacancy_id = $1",
                           vacancy_id)
    else:
        await conn.execute("UPDATE vacancy_matches_to_build SET built_after = $2 "
                           "WHERE vacancy_id = $1", vacancy_id, last)
    return True


async def build_queued(pool: asyncpg.Pool) -> int:
    """Build every queued vacancy's matches, a chunk per transaction; the chunks done."""
    done = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            if not await build_step(conn):
                return done
        done += 1


async def rebuild(conn: asyncpg.Connection) -> None:
    """Start over: no rows, every vacancy not ended queued for ``build_queued``."""
    await conn.execute("TRUNCATE vacancy_matches")
    await conn.execute(
        f"""INSERT INTO vacancy_matches_to_build (vacancy_id)
            SELECT vacancy_id FROM vacancies v WHERE {_OPEN}
            ON CONFLICT (vacancy_id) DO UPDATE SET built_after = NULL""")


# -- reading a page ----------------------------------------------------------------------------

async def being_built(conn: asyncpg.Connection, vacancy_id: str) -> bool:
    """Whether this vacancy's matches are still being built."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM vacancy_matches_to_build WHERE vacancy_id = $1)",
        vacancy_id))


async def being_built_for(conn: asyncpg.Connection, worker_id: str) -> bool:
    """Whether a vacancy the worker may fit (a live certificate in its occupation at its
    level or higher) is still having its matches built."""
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM vacancy_matches_to_build q
                          JOIN vacancies v USING (vacancy_id)
                          JOIN worker_certificates c ON c.worker_id = $1 AND NOT c.revoked
                           AND c.occupation_code = v.occupation_code
                           AND c.level <= v.minimum_level)""", worker_id))


async def of_vacancy(conn: asyncpg.Connection, vacancy_id: str,
                     after: tuple[int | None, str | None], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` matches of the vacancy, best first (score, then worker id), after the
    (-score, worker_id) key ``after``."""
    if after[0] is None:
        rows = await conn.fetch(
            """SELECT worker_id, score, criteria FROM vacancy_matches WHERE vacancy_id = $1
               ORDER BY -score, worker_id LIMIT $2""", vacancy_id, limit)
    else:
        rows = await conn.fetch(
            """SELECT worker_id, score, criteria FROM vacancy_matches WHERE vacancy_id = $1
               AND (-score, worker_id) > ($2::integer, $3::text)
               ORDER BY -score, worker_id LIMIT $4""", vacancy_id, *after, limit)
    return [dict(r) for r in rows]


async def of_worker(conn: asyncpg.Connection, worker_id: str, today: date,
                    after: tuple[int | None, str | None], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` open vacancies (not ended, not filled, not past closing on ``today``)
    the worker fits, best first (score, then vacancy id), after the (-score, vacancy_id) key
    ``after``."""
    where = f"m.worker_id = $1 AND {_OPEN} AND v.closes_on >= $2"
    args: list[Any] = [worker_id, today]
    if after[0] is not None:
        where += " AND (-m.score, m.vacancy_id) > ($3::integer, $4::text)"
        args += list(after)
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT m.vacancy_id, m.score, m.criteria FROM vacancy_matches m
            JOIN vacancies v USING (vacancy_id) WHERE {where}
            ORDER BY -m.score, m.vacancy_id LIMIT ${len(args)}""", *args)
    return [dict(r) for r in rows]
