"""A station's list of its workers' journeys (GET /journeys): answered from enrolment's
journey read model, a page at a time in (site, worker id) order, only the workers of the sites
the organisation may see; and each worker's stage moves on as enrolment's own events and
training's, assessment's and funding's arrive (funding's in any order); a page is index
range scans of the station's sites, however many other workers there are."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.enrolment.app import SPEC as ENROLMENT
from services.enrolment.journeys import page_query
from shared.auth.policy import SiteScope
from shared.calendar import programme_today
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.common import WorkSite
from shared.contracts.funding import (
    PaymentConfirmed,
    PaymentInstructionIssued,
    PaymentItem,
    PayoutDue,
)
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassApproved,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from tests.integration.test_funding_service import Source
from tests.integration.test_skeleton_services import registration
from tests.integration.test_statistics import paged
from tests.orgs import FUKANG, PUTUO, auth
from tests.support import eventually, fetch, running_service

pytestmark = pytest.mark.integration

FUKANG_STATION, PUTUO_STATION, HR = auth("station-fukang"), auth("station-putuo"), auth("hr")
CLASS = "cls-journey"
FIRST_DAY = programme_today() + timedelta(days=3)


async def register(api: httpx.AsyncClient, serial: int, headers: dict[str, str],
                   site: dict[str, str]) -> str:
    answer = await api.post("/workers", headers=headers,
                            json={**registration(serial), "work_site": site})
    assert answer.status_code == 201, answer.text
    return answer.json()["worker_id"]


async def test_a_station_pages_through_its_own_workers_only(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        fukang = sorted([await register(api, 900 + i, FUKANG_STATION, FUKANG)
                         for i in range(5)])
        putuo = sorted([await register(api, 950 + i, PUTUO_STATION, PUTUO) for i in range(2)])

        items, pages = await paged(api, "/journeys", FUKANG_STATION, limit=2)
        assert [i["worker_id"] for i in items] == fukang and pages == 3
        assert {i["stage"] for i in items} == {"registered"}
        assert all(i["site"] == FUKANG and i["attendance_percent"] is None for i in items)
        assert "name" not in items[0] and "national_id" not in items[0]
        items, _ = await paged(api, "/journeys", PUTUO_STATION, limit=100)
        assert [i["worker_id"] for i in items] == putuo
        # the HR bureau sees every worker: Putuo's sites sort before Fukang's (上海 < 新疆)
        items, pages = await paged(api, "/journeys", HR, limit=3)
        assert [i["worker_id"] for i in items] == putuo + fukang and pages == 3

        assert (await api.get("/journeys")).status_code == 401
        assert (await api.get("/journeys", headers={"Authorization": "Bearer nope"})
                ).status_code == 401
        refused = await api.get("/journeys", headers=auth("org-inst-1"))
        assert refused.status_code == 403 and refused.json()["code"] == "wrong_role"
        assert (await api.get("/journeys", params={"limit": 1001},
                              headers=FUKANG_STATION)).status_code == 422
        assert (await api.get("/journeys", params={"stage": "lost"},
                              headers=FUKANG_STATION)).status_code == 422
        assert (await api.get("/journeys", params={"after": "not-a-cursor"},
                              headers=FUKANG_STATION)).status_code == 422


async def journey(api: httpx.AsyncClient, worker_id: str) -> dict[str, Any]:
    answer = await api.get("/journeys", headers=FUKANG_STATION, params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    return next(i for i in answer.json() if i["worker_id"] == worker_id)


async def reaches(api: httpx.AsyncClient, worker_id: str, **expected: Any) -> dict[str, Any]:
    """The worker's journey once it shows ``expected`` (events from other topics arrive
    through the inbox, a moment later)."""
    async def shown() -> dict[str, Any] | None:
        item = await journey(api, worker_id)
        return item if all(item[k] == v for k, v in expected.items()) else None
    return await eventually(shown, seconds=30)


async def stage_of(api: httpx.AsyncClient, stage: str, **params: Any) -> list[str]:
    answer = await api.get("/journeys", headers=FUKANG_STATION,
                           params={"stage": stage, **params})
    assert answer.status_code == 200, answer.text
    return [i["worker_id"] for i in answer.json()]


def payout(line_id: str, worker_id: str) -> PayoutDue:
    return PayoutDue(line_id=line_id, rule="living_subsidy", payee_kind="worker",
                     payee_id=worker_id, class_id=CLASS, worker_id=worker_id, amount_fen=6000,
                     policy_id="policy-1", policy_version=1, justified_by=["e-1"],
                     due_at=datetime.now(UTC))


async def test_the_stage_moves_on_as_the_events_arrive(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    stream = f"class-{CLASS}"
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        await src.send("training", stream, ClassScheduled(
            class_id=CLASS, institution_id="inst-1", occupation_code="electrician",
            target_level=4, site=WorkSite(**FUKANG), mode="night", capacity=10,
            required_minutes=240, sessions=[SessionPlan(
                session_id=f"s00{n}", date=FIRST_DAY + timedelta(days=n), start_local="19:00",
                end_local="21:00", kind="classroom_theory", minutes=120) for n in (0, 1)]))
        await src.send("training", stream, ClassApproved(class_id=CLASS,
                                                          approved_on=programme_today()))
        paid, unpaid, withdrawn = [await register(api, 800 + i, FUKANG_STATION, FUKANG)
                                   for i in range(3)]
        assert set(await stage_of(api, "registered")) == {paid, unpaid, withdrawn}

        for worker_id in (paid, unpaid, withdrawn):
            surveyed = await api.post(f"/workers/{worker_id}/intake-surveys",
                                      headers={**FUKANG_STATION, "Idempotency-Key": worker_id},
                                      json={"desired_occupations": ["electrician"],
                                            "availability": ["night"],
                                            "earliest_start": FIRST_DAY.isoformat()})
            assert surveyed.status_code == 201, surveyed.text
        assert (await journey(api, paid))["stage"] == "surveyed"
        assert await stage_of(api, "registered") == []

        async def enrol(worker_id: str) -> str:
            async def open_class() -> httpx.Response | None:
                answer = await api.post("/enrolments", json={
                    "worker_id": worker_id, "class_id": CLASS},
                    headers={**FUKANG_STATION, "Idempotency-Key": f"enrol-{worker_id}"})
                return answer if answer.status_code == 201 else None
            return (await eventually(open_class, seconds=30)).json()["enrolment_id"]

        enrolments = {w: await enrol(w) for w in (paid, unpaid, withdrawn)}
        item = await journey(api, paid)
        assert item["stage"] == "enrolled" and item["class_id"] == CLASS
        assert item["class_starts_on"] == FIRST_DAY.isoformat()
        assert item["attendance_percent"] == 0 and item["attended_minutes"] == 0
        # the station's task queue: classes starting within a week, none within a day
        week = (programme_today() + timedelta(days=7)).isoformat()
        assert set(await stage_of(api, "enrolled", starts_by=week)) == {paid, unpaid, withdrawn}
        assert await stage_of(api, "enrolled",
                              starts_by=programme_today().isoformat()) == []
        later = (FIRST_DAY + timedelta(days=1)).isoformat()
        assert await stage_of(api, "enrolled", starts_from=later, starts_by=week) == []

        left = await api.post(f"/enrolments/{enrolments[withdrawn]}/withdrawal",
                              headers=FUKANG_STATION, json={"reason": "回家"})
        assert left.status_code == 204, left.text
        item = await journey(api, withdrawn)
        assert item["stage"] == "surveyed" and item["class_id"] is None
        assert await stage_of(api, "surveyed") == [withdrawn]

        # attendance: live, a void taking its minutes back out
        for n, (worker_id, minutes) in enumerate([(paid, 120), (paid, 60), (unpaid, 120)]):
            await src.send("training", stream, AttendanceRecorded(
                attendance_id=f"att-{n}", class_id=CLASS, session_id="s001",
                session_date=FIRST_DAY, worker_id=worker_id, minutes=minutes,
                method="face_check"))
        await reaches(api, paid, attended_minutes=180, attendance_percent=75)
        await src.send("training", stream, AttendanceVoided(
            attendance_id="att-1", class_id=CLASS, session_id="s001", session_date=FIRST_DAY,
            worker_id=paid, reason="重复签到"))
        await reaches(api, paid, attended_minutes=120, attendance_percent=50)

        # the class completes: its figures are final (199/240 is 82.9 %: shown as 82)
        completed_on = FIRST_DAY + timedelta(days=1)
        await src.send("training", stream, ClassCompleted(
            class_id=CLASS, institution_id="inst-1", occupation_code="electrician",
            target_level=4, site=WorkSite(**FUKANG), first_session_date=FIRST_DAY,
            completed_on=completed_on, threshold_percent=80, trainees=[
                TraineeOutcome(worker_id=paid, attended_minutes=199, required_minutes=240,
                               attendance_ratio=0.8292, met_threshold=True),
                TraineeOutcome(worker_id=unpaid, attended_minutes=120, required_minutes=240,
                               attendance_ratio=0.5, met_threshold=False)]))
        item = await reaches(api, paid, stage="trained")
        assert item["attendance_percent"] == 82 and item["met_threshold"] is True
        assert item["completed_on"] == completed_on.isoformat()
        await reaches(api, unpaid, stage="trained", attendance_percent=50,
                      met_threshold=False)

        for worker_id in (paid, unpaid):
            await src.send("assessment", "assessment-a1", SkillLevelCertified(
                certificate_id=f"cert-{worker_id}", certificate_number=f"XJ-2026-{worker_id}",
                worker_id=worker_id, occupation_code="electrician", level=4, body_id="body-1",
                assessment_id="a1", class_id=CLASS, certified_on=completed_on))
        await reaches(api, paid, stage="certified", certified_on=completed_on.isoformat())
        await reaches(api, unpaid, stage="certified")

        # funding's facts out of order: the confirmation first, then the instruction, then
        # the lines; the bank rejected the unpaid worker's line
        await src.send("funding", "instruction-i1", PaymentConfirmed(
            instruction_id="i1", confirmed_on=completed_on + timedelta(days=20),
            bank_reference="BANK-1", failed_line_ids=["line-unpaid"]))
        await src.send("funding", "instruction-i1", PaymentInstructionIssued(
            instruction_id="i1", batch_id="b1", total_fen=12000, file_sha256="0" * 64,
            issued_on=completed_on + timedelta(days=19), items=[
                PaymentItem(line_id=f"line-{name}", payee_kind="worker", payee_id=w,
                            amount_fen=6000) for name, w in (("paid", paid),
                                                             ("unpaid", unpaid))]))
        assert (await journey(api, paid))["stage"] == "certified"
        await src.send("funding", "ledger", payout("line-paid", paid))
        await src.send("funding", "ledger", payout("line-unpaid", unpaid))
        await reaches(api, paid, stage="paid",
                      paid_on=(completed_on + timedelta(days=20)).isoformat())
        await eventually(lambda: fetch(database, "SELECT 1 FROM journey_payout_lines "
                                                 "WHERE worker_id = $1", unpaid), seconds=30)
        assert (await journey(api, unpaid))["stage"] == "certified"

        # a certificate revoked takes the journey back to trained
        await src.send("assessment", "assessment-a1", CertificationRevoked(
            certificate_id=f"cert-{unpaid}", certificate_number=f"XJ-2026-{unpaid}",
            worker_id=unpaid, occupation_code="electrician", level=4, class_id=CLASS,
            reason="材料不实", revoked_on=completed_on + timedelta(days=30)))
        await reaches(api, unpaid, stage="trained", certified_on=None)
        assert await stage_of(api, "paid") == [paid]



def scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan that reads a relation."""
    found = [plan] if "Relation Name" in plan else []
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


async def test_a_page_reads_its_own_range_not_the_table(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix):
        # 20,000 journeys over 200 cities, the stages spread among them
        await fetch(database, """
            INSERT INTO worker_journeys (worker_id, province, city, site_name, surveyed_on)
            SELECT 'w' || lpad(n::text, 6, '0'), 'P' || (n % 4), 'C' || (n % 200),
                   'S' || (n % 3), CASE WHEN n % 2 = 0 THEN date '2026-01-01' END
            FROM generate_series(1, 20000) AS n""")
        await fetch(database, "ANALYZE worker_journeys")
        city = SiteScope(province="P1", city="C1")
        site = SiteScope(province="P2", city="C2", site_name="S1")
        cases = [([city], (None,) * 4, None), ([city, site], ("P1", "C1", "S0", "w000201"),
                                               None),
                 ([city, site], (None,) * 4, "surveyed"), (None, ("P1",) * 4, None)]
        for scopes, after, stage in cases:
            sql, args = page_query(scopes, after, 11, stage=stage)
            plan = (await fetch(database, f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
                    )[0][0]
            nodes = scans(json.loads(plan)[0]["Plan"])
            assert nodes and all(n["Node Type"] != "Seq Scan" for n in nodes), nodes
            read = sum(n["Actual Rows"] * n.get("Actual Loops", 1) for n in nodes)
            assert read <= 11 * len(scopes or [None]), (scopes, stage, read)
            page = await fetch(database, sql, *args)
            assert 0 < len(page) <= 11
