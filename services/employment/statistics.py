"""Employment's outcomes, read from their read model: no worker id leaves this module.

For each group of a dimension (destination: the vacancy's province and city; occupation;
certified level; gender), over the referrals made in it:

- ``referred``: workers referred at least once; ``placed``: workers hired through a referral;
  ``placement_rate_percent``: placed / referred, one decimal;
- ``median_wage_band_before``: the median of the wage bands the referred workers told at the
  intake survey (the lower median; those who told none are left out); ``median_wage_after_fen``:
  the lower median monthly wage the placed were hired at;
- ``followed_up_3_months`` / ``still_employed_3_months`` / ``retention_3_months_percent``: the
  placements whose 3-month follow-up is recorded (or an earlier one recorded that the worker
  left, who is then not retained), how many of them were still employed, and the share; the
  same at 6 months.

A group in which fewer than ``smallest_group`` workers were referred is answered with its
name and ``suppressed: true`` only: its figures would describe one or two people."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg

from shared.contracts.common import WAGE_BANDS

Dimension = Literal["destination", "occupation", "level", "gender"]
DIMENSIONS: tuple[Dimension, ...] = ("destination", "occupation", "level", "gender")


def _lower_median(table: str, value: str, count: str, position: str) -> str:
    """The lower median (percentile_disc 0.5) of the group's histogram in ``table``: the
    first value, in ``position`` order, at which the running count reaches half the whole.
    Reads the group's distinct values only."""
    return f"""(SELECT value FROM (
                   SELECT {value} AS value, {position} AS position,
                          sum({count}) OVER (ORDER BY {position}) AS upto,
                          sum({count}) OVER () AS whole
                   FROM {table} h WHERE h.dimension = g.dimension AND h.grp = g.grp
                     AND {position} IS NOT NULL) AS walk
               WHERE 2 * upto >= whole ORDER BY position LIMIT 1)"""


# A page of the dimension's groups (the read model of migrations/0005_outcome_groups.sql,
# kept by services/employment/outcome_groups.py), in group name order, read on the primary
# key; each group's medians read from its histograms. A band not in WAGE_BANDS is left out.
_GROUPS = f"""
    SELECT g.grp, g.referred, g.placed, g.followed_3, g.retained_3, g.followed_6, g.retained_6,
           {_lower_median("outcome_wage_bands", "array_position($1::text[], h.wage_band)",
                          "h.referrals", "array_position($1::text[], h.wage_band)")}
               AS band_before,
           {_lower_median("outcome_wages", "h.monthly_wage_fen", "h.placements",
                          "h.monthly_wage_fen")} AS wage_after
    FROM outcome_groups g WHERE g.dimension = $2"""
_FIRST_PAGE = f"{_GROUPS} ORDER BY g.grp LIMIT $3"
_NEXT_PAGE = f"{_GROUPS} AND g.grp > $4 ORDER BY g.grp LIMIT $3"


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def _shown(row: asyncpg.Record, smallest_group: int) -> dict[str, Any]:
    if row["referred"] < smallest_group:
        return {"group": row["grp"], "suppressed": True}
    band = row["band_before"]
    return {
        "group": row["grp"], "suppressed": False,
        "referred": row["referred"], "placed": row["placed"],
        "placement_rate_percent": _percent(row["placed"], row["referred"]),
        "median_wage_band_before": None if band is None else WAGE_BANDS[band - 1],
        "median_wage_after_fen": row["wage_after"],
        "followed_up_3_months": row["followed_3"],
        "still_employed_3_months": row["retained_3"],
        "retention_3_months_percent": _percent(row["retained_3"], row["followed_3"]),
        "followed_up_6_months": row["followed_6"],
        "still_employed_6_months": row["retained_6"],
        "retention_6_months_percent": _percent(row["retained_6"], row["followed_6"]),
    }


async def outcomes(conn: asyncpg.Connection, dimension: Dimension, smallest_group: int,
                   after: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` groups of ``dimension`` with referrals, after the group ``after``, in
    group name order (code points)."""
    if after is None:
        rows = await conn.fetch(_FIRST_PAGE, list(WAGE_BANDS), dimension, limit)
    else:
        rows = await conn.fetch(_NEXT_PAGE, list(WAGE_BANDS), dimension, limit, after)
    return [_shown(r, smallest_group) for r in rows]
