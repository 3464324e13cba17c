"""Employment's outcomes, counted from its read models: no worker id leaves this module.

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
DIMENSIONS: dict[str, str] = {
    "destination": "v.province || ' ' || v.city",
    "occupation": "r.occupation_code",
    "level": "r.level::text",
    "gender": "coalesce(f.gender, 'unknown')",
}


def _status_at(month: int) -> str:
    """A placement's state at ``month``: false when a follow-up up to then recorded that the
    worker left, else that month's follow-up (null: not recorded yet)."""
    return f"""CASE WHEN EXISTS (SELECT 1 FROM follow_ups x WHERE x.referral_id = r.referral_id
                   AND x.month <= {month} AND NOT x.still_employed) THEN false
               ELSE (SELECT x.still_employed FROM follow_ups x
                     WHERE x.referral_id = r.referral_id AND x.month = {month}) END"""


def _query(dimension: str) -> str:
    return f"""
    WITH rows AS (
        SELECT {DIMENSIONS[dimension]} AS grp, r.worker_id,
               r.status IN ('placed', 'left') AS was_placed, r.monthly_wage_fen,
               array_position($1::text[], f.wage_band) AS band,
               {_status_at(3)} AS at_3, {_status_at(6)} AS at_6
        FROM referrals r JOIN vacancies v USING (vacancy_id)
        LEFT JOIN worker_facts f USING (worker_id))
    SELECT grp, count(DISTINCT worker_id) AS referred,
           count(DISTINCT worker_id) FILTER (WHERE was_placed) AS placed,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY band) AS band_before,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY monthly_wage_fen)
               FILTER (WHERE was_placed) AS wage_after,
           count(*) FILTER (WHERE was_placed AND at_3 IS NOT NULL) AS followed_3,
           count(*) FILTER (WHERE was_placed AND at_3) AS retained_3,
           count(*) FILTER (WHERE was_placed AND at_6 IS NOT NULL) AS followed_6,
           count(*) FILTER (WHERE was_placed AND at_6) AS retained_6
    FROM rows GROUP BY grp ORDER BY grp"""


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


async def outcomes(conn: asyncpg.Connection, dimension: Dimension,
                   smallest_group: int) -> list[dict[str, Any]]:
    """Every group of ``dimension`` with referrals, in group order."""
    rows = await conn.fetch(_query(dimension), list(WAGE_BANDS))
    return [_shown(r, smallest_group) for r in rows]
