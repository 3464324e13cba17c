"""The read model of outcomes (services/employment/outcome_groups.py) on the real database: over
random histories of referrals, answers, follow-ups and workers' facts, arriving interleaved in
any order, every page of GET /statistics/outcomes' groups is, for every dimension and after
every event, exactly what one query over the whole of referrals gives (``definition``, the
route's former query); and the migration fills the model from existing rows to the same."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.employment import projections, statistics
from services.employment.app import SPEC as EMPLOYMENT
from shared.contracts import Event
from shared.contracts.common import WAGE_BANDS, WorkSite
from shared.contracts.employment import (
    FollowUpRecorded,
    ReferralDeclined,
    VacancyPosted,
    WorkerPlaced,
    WorkerReferred,
)
from shared.contracts.enrolment import IntakeSurveyRecorded, WorkerRegistered
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files

pytestmark = pytest.mark.integration

MIGRATION = Path(statistics.__file__).parent / "migrations" / "0005_outcome_groups.sql"
DAY = date(2025, 9, 1)
# Names whose code point order differs from a language's collation, to check the paging order.
SITES = [WorkSite(province="新疆", city="阜康市", site_name="阜康工业园"),
         WorkSite(province="新疆", city="乌鲁木齐市", site_name="米东区"),
         WorkSite(province="上海", city="普陀区", site_name="长征镇"),
         WorkSite(province="Zhejiang", city="Ningbo", site_name="north"),
         WorkSite(province="anhui", city="hefei", site_name="east")]
OCCUPATIONS = ["electrician", "welder", "forklift_2", "_cook"]
WAGES = [450_000, 520_000, 520_000, 600_000, 710_000]  # repeated values: ties in the median


def _status_at(month: int) -> str:
    return f"""CASE WHEN EXISTS (SELECT 1 FROM follow_ups x WHERE x.referral_id = r.referral_id
                   AND x.month <= {month} AND NOT x.still_employed) THEN false
               ELSE (SELECT x.still_employed FROM follow_ups x
                     WHERE x.referral_id = r.referral_id AND x.month = {month}) END"""


_GROUP_OF = {"destination": "v.province || ' ' || v.city", "occupation": "r.occupation_code",
             "level": "r.level::text", "gender": "coalesce(f.gender, 'unknown')"}


def definition(dimension: str) -> str:
    """Outcomes by definition: every referral read, grouped, counted and its medians taken
    (percentile_disc, nulls left out). $1: the wage bands in order."""
    return f"""
    WITH rows AS (
        SELECT {_GROUP_OF[dimension]} AS grp, r.worker_id,
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
    FROM rows GROUP BY grp"""


async def _by_definition(conn: asyncpg.Connection, dimension: str) -> list[dict[str, Any]]:
    """What the route answered (nothing suppressed), in its order: by group name."""
    rows = await conn.fetch(definition(dimension), list(WAGE_BANDS))
    return sorted((statistics._shown(r, 0) for r in rows), key=lambda g: g["group"])


async def _every_page(conn: asyncpg.Connection, dimension: statistics.Dimension,
                      limit: int) -> list[dict[str, Any]]:
    """Every page of the read model, each after the cursor of the one before, as the route."""
    shown: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        groups = await statistics.outcomes(conn, dimension, 0, after, limit + 1)
        shown += groups[:limit]
        if len(groups) <= limit:
            return shown
        after = groups[limit - 1]["group"]


async def _agrees(conn: asyncpg.Connection, limit: int, when: str) -> int:
    """Every dimension's pages equal the definition; the groups compared."""
    compared = 0
    for dimension in statistics.DIMENSIONS:
        expected = await _by_definition(conn, dimension)
        assert await _every_page(conn, dimension, limit) == expected, (dimension, when)
        compared += len(expected)
    return compared


@dataclass
class History:
    """A history applied event by event through employment's projection (its own events) and
    its consumers' handlers (workers' facts), as the service applies them."""
    conn: asyncpg.Connection
    workers: list[str]
    vacancies: list[str] = field(default_factory=list)
    referred: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> worker, vacancy
    placed: dict[str, tuple[str, str, set[int]]] = field(default_factory=dict)  # + months
    n: int = 0

    async def own(self, event: Event) -> None:
        await projections.project(self.conn, [event])

    async def step(self, kind: str, a: int, b: int) -> None:
        self.n += 1
        worker = self.workers[a % len(self.workers)]
        if kind == "register":  # a first registration, or a corrected gender
            await projections.worker_registered(self.conn, None, WorkerRegistered(
                worker_id=worker, gender=("female", "male")[b % 2], birth_year=1990,
                work_site=SITES[b % len(SITES)]))
        elif kind == "survey":  # its date may be older than the one known: then no change
            band = ([None, *WAGE_BANDS])[b % (len(WAGE_BANDS) + 1)]
            await projections.intake_survey_recorded(self.conn, None, IntakeSurveyRecorded(
                survey_id=f"s-{self.n}", worker_id=worker, desired_occupations=["welder"],
                availability=["night"], earliest_start=DAY,
                surveyed_on=DAY + timedelta(days=b % 7), current_wage_band=band))
        elif kind == "post" or not self.vacancies:
            vacancy = f"v-{self.n:03d}"
            await self.own(VacancyPosted(
                vacancy_id=vacancy, employer="某公司", site=SITES[b % len(SITES)],
                occupation_code=OCCUPATIONS[a % len(OCCUPATIONS)], minimum_level=5,
                headcount=50, wage_min_fen=400_000, wage_max_fen=800_000, shift_pattern="day",
                starts_on=DAY, closes_on=DAY + timedelta(days=30), posted_on=DAY))
            self.vacancies.append(vacancy)
        elif kind == "refer":
            referral, vacancy = f"r-{self.n:03d}", self.vacancies[b % len(self.vacancies)]
            await self.own(WorkerReferred(
                referral_id=referral, vacancy_id=vacancy, worker_id=worker, employer="某公司",
                site=SITES[0], occupation_code=OCCUPATIONS[(a + b) % len(OCCUPATIONS)],
                level=1 + b % 5, consent_method="signed_form", consented_on=DAY,
                referred_on=DAY))
            self.referred[referral] = (worker, vacancy)
        elif kind in ("decline", "place") and self.referred:
            referral = sorted(self.referred)[a % len(self.referred)]
            worker, vacancy = self.referred.pop(referral)
            if kind == "decline":
                await self.own(ReferralDeclined(referral_id=referral, vacancy_id=vacancy,
                                                worker_id=worker, reason="不合适",
                                                declined_on=DAY))
                return
            await self.own(WorkerPlaced(
                referral_id=referral, vacancy_id=vacancy, worker_id=worker, employer="某公司",
                occupation_code="welder", level=5, site=SITES[0],
                monthly_wage_fen=WAGES[b % len(WAGES)], starts_on=DAY, placed_on=DAY))
            self.placed[referral] = (worker, vacancy, set())
        elif kind == "follow" and self.placed:
            referral = sorted(self.placed)[a % len(self.placed)]
            worker, vacancy, recorded = self.placed[referral]
            month = [m for m in (1, 3, 6) if m not in recorded][b % (3 - len(recorded))]
            still_employed = b % 3 != 0
            await self.own(FollowUpRecorded(
                referral_id=referral, vacancy_id=vacancy, worker_id=worker, month=month,
                still_employed=still_employed,
                monthly_wage_fen=600_000 if still_employed else None, recorded_on=DAY))
            recorded.add(month)
            if not still_employed or len(recorded) == 3:  # left: no follow-up after
                del self.placed[referral]


KINDS = ["register", "survey", "survey", "post", "refer", "refer", "refer", "refer", "decline",
         "place", "place", "place", "follow", "follow"]
_DATABASE: dict[str, str] = {}  # one database for every example, migrated once


async def _migrated(new_database: Callable[[], Awaitable[str]]) -> str:
    if "dsn" not in _DATABASE:
        _DATABASE["dsn"] = await new_database()
        conn = await asyncpg.connect(_DATABASE["dsn"])
        try:
            await apply_migrations(conn, migration_files(KIT_MIGRATIONS, EMPLOYMENT.migrations))
        finally:
            await conn.close()
    return _DATABASE["dsn"]


async def _run(dsn: str, workers: int, steps: list[tuple[str, int, int]], limit: int) -> None:
    conn = await asyncpg.connect(dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:  # rolled back: the next example starts from empty tables
        history = History(conn, [f"w-{i}" for i in range(workers)])
        for number, (kind, a, b) in enumerate(steps):
            await history.step(kind, a, b)
            await _agrees(conn, limit, f"after step {number}: {kind}")
        kept = {d: await _every_page(conn, d, 1000) for d in statistics.DIMENSIONS}
        await conn.execute("TRUNCATE outcome_groups, outcome_workers, outcome_wage_bands, "
                           "outcome_wages")
        await conn.execute(MIGRATION.read_text())
        await _agrees(conn, limit, "filled by the migration")
        assert {d: await _every_page(conn, d, 1000) for d in statistics.DIMENSIONS} == kept
    finally:
        await transaction.rollback()
        await conn.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(workers=st.integers(1, 8),
       steps=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 63),
                                st.integers(0, 63)), min_size=8, max_size=40),
       limit=st.integers(1, 4))
def test_the_read_model_answers_what_the_whole_table_query_does(
    new_database: Callable[[], Awaitable[str]], workers: int,
    steps: list[tuple[str, int, int]], limit: int
) -> None:
    async def run() -> None:
        await _run(await _migrated(new_database), workers, steps, limit)

    asyncio.run(run())


async def test_a_worker_counts_once_however_many_referrals_and_their_facts_move_them(
    pool: asyncpg.Pool
) -> None:
    """A worked history: two referrals of one worker, gender known only afterwards, a survey
    that moves every referral's band, a departure at month 1 that answers both follow-ups."""
    async with pool.acquire() as conn:
        await apply_migrations(conn, migration_files(KIT_MIGRATIONS, EMPLOYMENT.migrations))
        history = History(conn, ["w-1"])
        await history.step("post", 0, 0)  # v-001: 电工 in 新疆 阜康市
        await history.step("refer", 0, 0)  # r-002: w-1, level 1
        await history.step("refer", 0, 0)  # r-003: w-1 again
        await history.step("place", 0, 1)  # r-002 placed at 520,000
        shown = await statistics.outcomes(conn, "gender", 0, None, 10)
        assert [(g["group"], g["referred"], g["placed"], g["median_wage_after_fen"])
                for g in shown] == [("unknown", 1, 1, 520_000)]
        await history.step("register", 0, 0)  # female
        await history.step("survey", 0, 2)  # 3000_to_4999
        await history.step("follow", 0, 0)  # month 1, left
        shown = await statistics.outcomes(conn, "gender", 0, None, 10)
        assert [{k: g[k] for k in ("group", "referred", "placed", "median_wage_band_before",
                                   "followed_up_3_months", "still_employed_3_months",
                                   "followed_up_6_months")} for g in shown] == [
            {"group": "female", "referred": 1, "placed": 1,
             "median_wage_band_before": "3000_to_4999", "followed_up_3_months": 1,
             "still_employed_3_months": 0, "followed_up_6_months": 1}]
        assert await _agrees(conn, 1, "worked history") == 4
