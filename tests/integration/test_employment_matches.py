"""The read model of matches (services/employment/matches.py) on the real database: over
random histories of workers' facts, certificates, vacancies, placements and departures, every
page of it is the pure ranking (``rank_workers``, ``rank_vacancies``) of the same facts, kept
so event by event and rebuilt so from scratch; and the routes page it by cursor."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from services.employment import matches, projections
from services.employment.api import _match
from services.employment.app import SPEC as EMPLOYMENT
from services.employment.domain.matching import Match, rank_vacancies, rank_workers
from shared.contracts import Event
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.common import WorkSite
from shared.contracts.employment import (
    FollowUpRecorded,
    VacancyClosed,
    VacancyPosted,
    WorkerPlaced,
    WorkerReferred,
)
from shared.contracts.enrolment import IntakeSurveyRecorded, WorkerRegistered
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from tests.orgs import FUKANG, auth
from tests.support import eventually, running_service

pytestmark = pytest.mark.integration

DAY = date(2025, 9, 1)
SITES = [WorkSite(province="新疆", city="阜康市", site_name="阜康工业园"),
         WorkSite(province="新疆", city="乌鲁木齐市", site_name="米东区"),
         WorkSite(province="上海", city="普陀区", site_name="长征镇")]
OCCUPATIONS = ["electrician", "welder"]
MODES = ["full_time", "night", "weekend"]
Key = tuple[int, str]


def certified(cert: str, worker: str, occupation: str, level: int) -> SkillLevelCertified:
    return SkillLevelCertified(
        certificate_id=cert, certificate_number=f"XJ-{cert}", worker_id=worker,
        occupation_code=occupation, level=level, body_id="body-1", assessment_id="as-1",
        class_id="class-1", certified_on=DAY)


def revoked(cert: str, worker: str, occupation: str, level: int) -> CertificationRevoked:
    return CertificationRevoked(
        certificate_id=cert, certificate_number=f"XJ-{cert}", worker_id=worker,
        occupation_code=occupation, level=level, class_id="class-1", reason="复核不合格",
        revoked_on=DAY)


def posted(vacancy: str, occupation: str, level: int, site: WorkSite, shift: str,
           closes_on: date, headcount: int) -> VacancyPosted:
    return VacancyPosted(
        vacancy_id=vacancy, employer="阜康某能源有限公司", site=site, occupation_code=occupation,
        minimum_level=level, headcount=headcount, wage_min_fen=500_000, wage_max_fen=700_000,
        shift_pattern=shift, starts_on=DAY, closes_on=closes_on, posted_on=DAY)


class History:
    """A random history, applied event by event through employment's projection and its
    consumers' handlers, as the service applies them."""

    def __init__(self, conn: asyncpg.Connection, rng: random.Random) -> None:
        self.conn, self.rng = conn, rng
        self.workers = [f"w-{i:02d}" for i in range(rng.randint(4, 18))]
        self.certs: dict[str, tuple[str, str, int]] = {}
        self.open: dict[str, tuple[str, int, int]] = {}  # vacancy -> occupation, head, hired
        self.placed: dict[str, tuple[str, str]] = {}  # worker -> referral, vacancy
        self.n = 0

    async def own(self, event: Event) -> None:
        await projections.project(self.conn, [event])

    async def step(self) -> None:
        rng, worker, self.n = self.rng, self.rng.choice(self.workers), self.n + 1
        action = rng.choice(["register", "survey", "certify", "certify", "certify", "revoke",
                             "post", "post", "close", "place", "leave", "build"])
        if action == "register":
            await projections.worker_registered(self.conn, None, WorkerRegistered(
                worker_id=worker, gender=rng.choice(["female", "male"]), birth_year=1990,
                work_site=rng.choice([*SITES, None])))
        elif action == "survey":
            modes = rng.sample(MODES, rng.randint(1, 3))
            await projections.intake_survey_recorded(self.conn, None, IntakeSurveyRecorded(
                survey_id=f"s-{self.n}", worker_id=worker, desired_occupations=["electrician"],
                availability=modes, earliest_start=DAY, surveyed_on=DAY + timedelta(self.n),
                current_wage_band=None))
        elif action == "certify":
            cert = f"c-{rng.randint(0, 40)}"  # may already be known, even revoked first
            facts = self.certs.setdefault(cert, (worker, rng.choice(OCCUPATIONS),
                                                 rng.randint(1, 5)))
            await projections.skill_level_certified(self.conn, None, certified(cert, *facts))
        elif action == "revoke":
            cert = f"c-{rng.randint(0, 40)}"
            facts = self.certs.setdefault(cert, (worker, rng.choice(OCCUPATIONS),
                                                 rng.randint(1, 5)))
            await projections.certification_revoked(self.conn, None, revoked(cert, *facts))
        elif action == "post":
            vacancy, occupation = f"v-{self.n:03d}", rng.choice(OCCUPATIONS)
            closes_on = DAY + timedelta(rng.choice([-1, 0, 30]))  # past its date, or not
            headcount = rng.randint(1, 2)
            await self.own(posted(vacancy, occupation, rng.randint(1, 5), rng.choice(SITES),
                                  rng.choice(["day", "night", "rotating", "flexible"]),
                                  closes_on, headcount))
            self.open[vacancy] = (occupation, headcount, 0)
        elif action == "close" and self.open:
            vacancy = rng.choice(sorted(self.open))
            del self.open[vacancy]
            await self.own(VacancyClosed(vacancy_id=vacancy, ended="closed", reason="招满",
                                         closed_on=DAY))
        elif action == "place" and self.open and worker not in self.placed:
            await self.place(worker, rng.choice(sorted(self.open)))
        elif action == "leave" and self.placed:
            worker = rng.choice(sorted(self.placed))
            referral, vacancy = self.placed.pop(worker)
            await self.own(FollowUpRecorded(referral_id=referral, vacancy_id=vacancy,
                                            worker_id=worker, month=1, still_employed=False,
                                            recorded_on=DAY))
        elif action == "build":
            await matches.build_step(self.conn)

    async def place(self, worker: str, vacancy: str) -> None:
        occupation, headcount, hired = self.open[vacancy]
        referral = f"r-{self.n}"
        await self.own(WorkerReferred(
            referral_id=referral, vacancy_id=vacancy, worker_id=worker, employer="某公司",
            site=SITES[0], occupation_code=occupation, level=5, consent_method="signed_form",
            consented_on=DAY, referred_on=DAY))
        await self.own(WorkerPlaced(
            referral_id=referral, vacancy_id=vacancy, worker_id=worker, employer="某公司",
            occupation_code=occupation, level=5, site=SITES[0], monthly_wage_fen=600_000,
            starts_on=DAY, placed_on=DAY))
        self.placed[worker] = (referral, vacancy)
        self.open[vacancy] = (occupation, headcount, hired + 1)
        if hired + 1 == headcount:
            del self.open[vacancy]
            await self.own(VacancyClosed(vacancy_id=vacancy, ended="filled", closed_on=DAY))


def _expected(ranked: list[Match], id_field: str) -> list[dict[str, Any]]:
    return [{id_field: getattr(m, id_field), "score": m.score,
             "criteria": [asdict(c) for c in m.criteria]} for m in ranked]


async def _every_page(read: Callable[[Key | tuple[None, None], int],
                                     Awaitable[list[dict[str, Any]]]],
                      id_field: str, limit: int) -> list[dict[str, Any]]:
    """Every page, each read after the cursor of the one before, as the route pages."""
    shown: list[dict[str, Any]] = []
    after: Key | tuple[None, None] = (None, None)
    while True:
        rows = [_match(r, id_field) for r in await read(after, limit + 1)]
        shown += rows[:limit]
        if len(rows) <= limit:
            return shown
        after = (-rows[limit - 1]["score"], rows[limit - 1][id_field])


async def _agrees_with_the_pure_ranking(conn: asyncpg.Connection, rng: random.Random) -> int:
    """Every vacancy's and every worker's pages equal the pure ranking; the matches seen."""
    seen = 0
    for row in await conn.fetch("SELECT * FROM vacancies ORDER BY vacancy_id"):
        vacancy = dict(row)
        expected: list[dict[str, Any]] = []
        if projections.is_open(vacancy, DAY):
            candidates = await projections.candidates_for(conn, vacancy["occupation_code"],
                                                          vacancy["minimum_level"])
            expected = _expected(rank_workers(projections.opening_of(vacancy), candidates),
                                 "worker_id")
            shown = await _every_page(
                lambda after, n, v=vacancy["vacancy_id"]: matches.of_vacancy(conn, v, after, n),
                "worker_id", rng.randint(1, 4))
            assert shown == expected, vacancy["vacancy_id"]
        seen += len(expected)
    workers = await conn.fetch("SELECT worker_id FROM worker_certificates UNION "
                               "SELECT worker_id FROM worker_facts")
    for worker_id in sorted(r["worker_id"] for r in workers):
        candidate = await projections.candidate(conn, worker_id)
        if candidate is None:  # only revoked certificates: the route answers 404
            assert not await projections.knows_of(conn, worker_id)
            continue
        openings = await projections.openings_for(conn, sorted(candidate.levels), DAY)
        expected = _expected(rank_vacancies(candidate, openings), "vacancy_id")
        shown = await _every_page(
            lambda after, n, w=worker_id: matches.of_worker(conn, w, DAY, after, n),
            "vacancy_id", rng.randint(1, 3))
        assert shown == expected, worker_id
        seen += len(expected)
    return seen


async def _waits_for_the_vacancies_being_built(conn: asyncpg.Connection) -> None:
    """A vacancy still queued answers 503, and so does the list of each worker it may hold."""
    queued = {r["vacancy_id"] for r in await conn.fetch(
        "SELECT vacancy_id FROM vacancy_matches_to_build")}
    vacancies = [dict(r) for r in await conn.fetch("SELECT * FROM vacancies")]
    for vacancy in vacancies:
        assert await matches.being_built(conn, vacancy["vacancy_id"]) == \
            (vacancy["vacancy_id"] in queued)
    for row in await conn.fetch("SELECT DISTINCT worker_id FROM worker_certificates"):
        candidate = await projections.candidate(conn, row["worker_id"])
        levels = candidate.levels if candidate else {}
        may_fit = any(v["vacancy_id"] in queued and v["occupation_code"] in levels
                      and levels[v["occupation_code"]] <= v["minimum_level"]
                      for v in vacancies)
        assert await matches.being_built_for(conn, row["worker_id"]) == may_fit


async def test_the_read_model_is_the_pure_ranking_event_by_event_and_rebuilt(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn, migration_files(KIT_MIGRATIONS, EMPLOYMENT.migrations))
    seen = 0
    for seed in range(30):
        rng = random.Random(seed)
        # Some histories build their vacancies in chunks in the background, not inline.
        monkeypatch.setattr(matches, "INLINE_BUILD_LIMIT", rng.choice([0, 2, 1000]))
        monkeypatch.setattr(matches, "CHUNK", rng.choice([1, 2, 1000]))
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                history = History(conn, rng)
                for _ in range(rng.randint(20, 90)):
                    await history.step()
                await _waits_for_the_vacancies_being_built(conn)
                while await matches.build_step(conn):
                    pass
                seen += await _agrees_with_the_pure_ranking(conn, rng)
                kept = await conn.fetch("SELECT * FROM vacancy_matches m JOIN vacancies v "
                                        "USING (vacancy_id) WHERE v.closes_on >= $1 "
                                        "ORDER BY vacancy_id, worker_id", DAY)
                await matches.rebuild(conn)
                while await matches.build_step(conn):
                    pass
                rebuilt = await conn.fetch("SELECT * FROM vacancy_matches m JOIN vacancies v "
                                           "USING (vacancy_id) WHERE v.closes_on >= $1 "
                                           "ORDER BY vacancy_id, worker_id", DAY)
                assert rebuilt == kept, seed
            finally:
                await transaction.rollback()
    assert seen > 100  # the histories did rank many workers, not only empty lists


async def _facts(dsn: str, *events: Event) -> None:
    """Workers' facts as employment's consumers apply them, each in its transaction."""
    handlers = {WorkerRegistered: projections.worker_registered,
                IntakeSurveyRecorded: projections.intake_survey_recorded,
                SkillLevelCertified: projections.skill_level_certified,
                CertificationRevoked: projections.certification_revoked}
    pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn:
            for event in events:
                async with conn.transaction():
                    await handlers[type(event)](conn, None, event)
    finally:
        await pool.close()


async def test_the_routes_page_the_matches_and_follow_certification_and_closure(
    database: str, kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    station, hr = auth("station-fukang"), auth("hr")
    workers = [f"w-{i}" for i in range(7)]
    async with running_service(EMPLOYMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, test_clock=True) as (_, api):
        await _facts(database, *[WorkerRegistered(worker_id=w, gender="female", birth_year=1990,
                                                  work_site=SITES[i % 3])
                                 for i, w in enumerate(workers)],
                     *[certified(f"c-{w}", w, "electrician", 1 + i % 5)
                       for i, w in enumerate(workers)])
        today = date.fromisoformat((await api.get("/test-clock", headers=hr)).json()["today"])
        vacancy = {"employer": "阜康某能源有限公司", "site": FUKANG,
                   "occupation_code": "electrician", "minimum_level": 5, "headcount": 3,
                   "wage_min_fen": 550_000, "wage_max_fen": 700_000, "shift_pattern": "day",
                   "starts_on": today.isoformat(), "closes_on": today.isoformat()}
        for n in (1, 2, 3):
            assert (await api.post("/vacancies", headers=station, json={
                **vacancy, "vacancy_id": f"v-{n}", "minimum_level": 6 - n})).status_code == 204

        async def every(path: str, limit: int) -> list[dict[str, Any]]:
            """Every page (as the HR bureau, who sees every site's workers)."""
            answer = await api.get(path, params={"limit": limit}, headers=hr)
            assert answer.status_code == 200, answer.text
            shown = answer.json()
            while "next" in answer.links:
                answer = await api.get(answer.links["next"]["url"], headers=hr)
                assert answer.status_code == 200
                shown += answer.json()
            return shown

        # Levels 1,2,3,4,5,1,2 for w-0..w-6; sites 阜康 (40), 乌鲁木齐 (20), 普陀 (0) in turn;
        # nobody surveyed. At level 5 asked: 30, +5 a level above, at most 40.
        whole = (await api.get("/vacancies/v-1/matches", headers=station)).json()
        assert [(m["worker_id"], m["score"]) for m in whole] == \
            [("w-0", 80), ("w-6", 80), ("w-3", 75), ("w-1", 60), ("w-4", 50), ("w-2", 40),
             ("w-5", 40)]
        for limit in (1, 2, 3):
            assert await every("/vacancies/v-1/matches", limit) == whole
        offered = await every("/workers/w-0/vacancies", 1)
        assert [(v["vacancy_id"], v["score"]) for v in offered] == \
            [("v-1", 80), ("v-2", 80), ("v-3", 80)]  # equal scores: by vacancy id
        assert [(v["vacancy_id"], v["score"]) for v in await every("/workers/w-3/vacancies", 1)
                ] == [("v-1", 75), ("v-2", 70)]  # level 4 does not fit v-3 (level 3 asked)

        # A certificate at level 1 lifts w-4 to 60 (after w-1, by id); its revocation puts
        # them back where they were.
        await _facts(database, certified("c-w-4b", "w-4", "electrician", 1))
        lifted = await every("/vacancies/v-1/matches", 2)
        assert [(m["worker_id"], m["score"]) for m in lifted][3:5] == [("w-1", 60), ("w-4", 60)]
        assert [(v["vacancy_id"], v["score"]) for v in await every("/workers/w-4/vacancies", 2)
                ] == [("v-1", 60), ("v-2", 60), ("v-3", 60)]
        await _facts(database, revoked("c-w-4b", "w-4", "electrician", 1))
        assert await every("/vacancies/v-1/matches", 2) == whole
        assert [v["vacancy_id"] for v in await every("/workers/w-4/vacancies", 2)] == ["v-1"]

        # Closed: nobody can be referred to it, so it shows no matches, nor the worker's list.
        assert (await api.post("/vacancies/v-1/closure", headers=station,
                               json={"reason": "岗位取消"})).status_code == 204
        assert (await api.get("/vacancies/v-1/matches", headers=station)).json() == []
        assert [v["vacancy_id"] for v in await every("/workers/w-0/vacancies", 1)] == \
            ["v-2", "v-3"]

        # A vacancy with more candidates than a posting scores inline is built in the
        # background: 503 until it is, then the same ranking.
        monkeypatch.setattr(matches, "INLINE_BUILD_LIMIT", 2)
        monkeypatch.setattr(matches, "CHUNK", 2)
        assert (await api.post("/vacancies", headers=station, json={
            **vacancy, "vacancy_id": "v-4"})).status_code == 204

        async def built() -> bool:
            answer = await api.get("/vacancies/v-4/matches", headers=station)
            assert answer.status_code in (200, 503), answer.text
            return answer.status_code == 200

        await eventually(built, seconds=30)
        assert await every("/vacancies/v-4/matches", 3) == whole
        assert [v["vacancy_id"] for v in await every("/workers/w-0/vacancies", 2)] == \
            ["v-2", "v-3", "v-4"]


async def test_a_posting_and_a_certification_at_the_same_time_do_not_miss_each_other(
    pool: asyncpg.Pool
) -> None:
    """Each takes its occupation's lock before it reads the other's table: whichever commits
    second sees the first, so the match is kept either way."""
    async with pool.acquire() as conn:
        await apply_migrations(conn, migration_files(KIT_MIGRATIONS, EMPLOYMENT.migrations))

    async def certify(conn: asyncpg.Connection, worker: str) -> None:
        await projections.skill_level_certified(
            conn, None, certified(f"c-{worker}", worker, "electrician", 4))

    async def post(conn: asyncpg.Connection, vacancy: str) -> None:
        await projections.project(conn, [posted(vacancy, "electrician", 5, SITES[0], "day",
                                                DAY, 1)])

    async def second_waits_for_first(first: Callable[[asyncpg.Connection], Awaitable[None]],
                                     second: Callable[[asyncpg.Connection], Awaitable[None]]
                                     ) -> None:
        async with pool.acquire() as one, pool.acquire() as two:
            transaction = one.transaction()
            await transaction.start()
            await first(one)

            async def then() -> None:
                async with two.transaction():
                    await second(two)

            waiting = asyncio.create_task(then())
            await asyncio.sleep(0.3)
            assert not waiting.done()  # held by the occupation's lock
            await transaction.commit()
            await waiting

    await second_waits_for_first(lambda c: certify(c, "w-1"), lambda c: post(c, "v-1"))
    await second_waits_for_first(lambda c: post(c, "v-2"), lambda c: certify(c, "w-2"))
    async with pool.acquire() as conn:
        kept = await conn.fetch("SELECT vacancy_id, worker_id FROM vacancy_matches "
                                "ORDER BY vacancy_id, worker_id")
    assert [(r["vacancy_id"], r["worker_id"]) for r in kept] == \
        [("v-1", "w-1"), ("v-1", "w-2"), ("v-2", "w-1"), ("v-2", "w-2")]
