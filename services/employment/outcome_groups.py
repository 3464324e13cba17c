"""The read model of outcomes (migrations/0005_outcome_groups.sql), kept in the transaction of
every write it depends on, so that GET /statistics/outcomes reads a page of groups and their
histograms, never the referrals.

What a referral counts for is a function of its row, its vacancy's place, its worker's facts
(gender, wage band) and its follow-ups. A writer wraps its change in ``kept``: the counts of
the worker's referrals are read before and after the change and the difference is added to
the model. That covers every order the facts arrive in (a worker's gender after their
referrals, a survey that changes the band of all of them, a follow-up after the placement)
without the writer knowing which counts it moves. Writers of one worker's referrals take that
worker's transaction lock first, so two of them (a referral and the worker's new gender) never
both count from the state before the other.

The counts: per (dimension, group), the workers with at least one referral (at least one
placement) there, the placements followed up and retained at 3 and 6 months, and the
histograms the medians are read from. Bounded by the worker's referrals, not by any group."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

_LOCK = "employment.outcomes:"

Group = tuple[str, str]  # (dimension, group name)


def _status_at(month: int) -> str:
    """A placement's state at ``month``: false when a follow-up up to then recorded that the
    worker left, else that month's follow-up (null: not recorded yet)."""
    return f"""CASE WHEN EXISTS (SELECT 1 FROM follow_ups x WHERE x.referral_id = r.referral_id
                   AND x.month <= {month} AND NOT x.still_employed) THEN false
               ELSE (SELECT x.still_employed FROM follow_ups x
                     WHERE x.referral_id = r.referral_id AND x.month = {month}) END"""


# One row per referral of the workers and dimension: its group and what it counts for. A
# referral whose vacancy is unknown counts nowhere (a referral is made to a posted vacancy).
_COUNTED = f"""
    SELECT d.dimension, d.grp, r.worker_id, r.status IN ('placed', 'left') AS placed,
           r.monthly_wage_fen AS wage, f.wage_band AS band,
           {_status_at(3)} AS at_3, {_status_at(6)} AS at_6
    FROM referrals r JOIN vacancies v USING (vacancy_id)
    LEFT JOIN worker_facts f USING (worker_id)
    CROSS JOIN LATERAL (VALUES ('destination', v.province || ' ' || v.city),
                               ('occupation', r.occupation_code), ('level', r.level::text),
                               ('gender', coalesce(f.gender, 'unknown'))) AS d (dimension, grp)
    WHERE r.worker_id = ANY($1::text[])"""


@dataclass
class _Counts:
    """Counts of some referrals, or a difference of two such (then some are negative)."""
    referrals: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # + worker
    placements: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    groups: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # + counter name
    bands: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # + band
    wages: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # + wage

    def minus(self, other: _Counts) -> _Counts:
        difference = _Counts()
        for name in ("referrals", "placements", "groups", "bands", "wages"):
            counter: Counter[tuple[str, str, object]] = Counter(getattr(self, name))
            counter.subtract(getattr(other, name))
            setattr(difference, name, Counter({k: n for k, n in counter.items() if n}))
        return difference


async def _counts(conn: asyncpg.Connection, workers: list[str]) -> _Counts:
    counts = _Counts()
    if not workers:
        return counts
    for row in await conn.fetch(_COUNTED, workers):
        group, placed = (row["dimension"], row["grp"]), row["placed"]
        counts.referrals[(*group, row["worker_id"])] += 1
        counts.placements[(*group, row["worker_id"])] += placed
        if row["band"] is not None:
            counts.bands[(*group, row["band"])] += 1
        if not placed:
            continue
        if row["wage"] is not None:
            counts.wages[(*group, row["wage"])] += 1
        for month, status in ((3, row["at_3"]), (6, row["at_6"])):
            counts.groups[(*group, f"followed_{month}")] += status is not None
            counts.groups[(*group, f"retained_{month}")] += status is True
    return counts


async def _lock(conn: asyncpg.Connection, workers: list[str]) -> None:
    """The workers' transaction locks, in a fixed order (no deadlock between writers)."""
    for worker in workers:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                           _LOCK + worker)


@asynccontextmanager
async def kept(conn: asyncpg.Connection, workers: Iterable[str]) -> AsyncIterator[None]:
    """Keep the model across the change made inside: to the referrals of ``workers``, their
    follow-ups, their facts or their vacancies. Call it inside the change's transaction."""
    ordered = sorted(set(workers))
    await _lock(conn, ordered)
    before = await _counts(conn, ordered)
    yield
    await _add(conn, (await _counts(conn, ordered)).minus(before))


async def _add(conn: asyncpg.Connection, change: _Counts) -> None:
    members = sorted(set(change.referrals) | set(change.placements))
    moved: Counter[tuple[str, str, str]] = Counter(change.groups)
    if members:
        rows = await conn.fetch(
            """INSERT INTO outcome_workers AS w (dimension, grp, worker_id, referrals,
                   placements)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[])
               ON CONFLICT (dimension, grp, worker_id) DO UPDATE SET
                   referrals = w.referrals + excluded.referrals,
                   placements = w.placements + excluded.placements
               RETURNING dimension, grp, worker_id, referrals, placements""",
            *_columns([(*m, change.referrals[m], change.placements[m]) for m in members], 5))
        for row in rows:
            key = (row["dimension"], row["grp"], row["worker_id"])
            was_referred = row["referrals"] - change.referrals[key] > 0
            was_placed = row["placements"] - change.placements[key] > 0
            moved[(key[0], key[1], "referred")] += (row["referrals"] > 0) - was_referred
            moved[(key[0], key[1], "placed")] += (row["placements"] > 0) - was_placed
        await conn.execute(
            """DELETE FROM outcome_workers w USING unnest($1::text[], $2::text[], $3::text[])
                   AS gone (dimension, grp, worker_id)
               WHERE (w.dimension, w.grp, w.worker_id) = (gone.dimension, gone.grp COLLATE "C",
                      gone.worker_id) AND w.referrals = 0""", *_columns(members, 3))
    await _add_to_groups(conn, moved)
    await _add_to_histogram(conn, "outcome_wage_bands", "wage_band", "text", "referrals",
                            change.bands)
    await _add_to_histogram(conn, "outcome_wages", "monthly_wage_fen", "bigint", "placements",
                            change.wages)


_GROUP_COUNTERS = ("referred", "placed", "followed_3", "retained_3", "followed_6", "retained_6")


async def _add_to_groups(conn: asyncpg.Connection,
                         moved: Counter[tuple[str, str, str]]) -> None:
    groups = sorted({(dimension, grp) for dimension, grp, _ in moved})
    if not groups:
        return
    rows = [(*g, *(moved[(*g, name)] for name in _GROUP_COUNTERS)) for g in groups]
    sets = ", ".join(f"{name} = g.{name} + excluded.{name}" for name in _GROUP_COUNTERS)
    await conn.execute(
        f"""INSERT INTO outcome_groups AS g (dimension, grp, {', '.join(_GROUP_COUNTERS)})
            SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[],
                                 $6::int[], $7::int[], $8::int[])
            ON CONFLICT (dimension, grp) DO UPDATE SET {sets}""", *_columns(rows, 8))
    # A group with nobody referred has no referrals, so nothing else to count either.
    await conn.execute(
        """DELETE FROM outcome_groups g USING unnest($1::text[], $2::text[]) AS gone (d, grp)
           WHERE (g.dimension, g.grp) = (gone.d, gone.grp COLLATE "C") AND g.referred = 0""",
        *_columns(groups, 2))


async def _add_to_histogram(conn: asyncpg.Connection, table: str, value: str, value_type: str,
                            count: str, moved: Counter[tuple[str, str, object]]) -> None:
    keys = sorted(moved)
    if not keys:
        return
    await conn.execute(
        f"""INSERT INTO {table} AS h (dimension, grp, {value}, {count})
            SELECT * FROM unnest($1::text[], $2::text[], $3::{value_type}[], $4::int[])
            ON CONFLICT (dimension, grp, {value}) DO UPDATE SET
                {count} = h.{count} + excluded.{count}""",
        *_columns([(*k, moved[k]) for k in keys], 4))
    await conn.execute(
        f"""DELETE FROM {table} h USING unnest($1::text[], $2::text[], $3::{value_type}[])
                AS gone (dimension, grp, value)
            WHERE (h.dimension, h.grp, h.{value}) = (gone.dimension, gone.grp COLLATE "C",
                                                      gone.value)
              AND h.{count} = 0""", *_columns(keys, 3))


def _columns(rows: Iterable[tuple[object, ...]], width: int) -> list[list[object]]:
    """Rows as ``width`` column lists (for unnest)."""
    columns: list[list[object]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row[:width], strict=False):
            column.append(value)
    return columns
