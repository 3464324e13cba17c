"""The statistics routes answer from running counts (a table per route, keyed by the group,
kept in the transaction of the events it counts), a page at a time by the group key. After
enrolments and withdrawals, certificates and revocations, notices moving between states,
each route's counts equal the counts computed from the base tables; paging with a small
``limit`` returns every group exactly once, in key order; and the migration's backfill gives
an existing store the same counts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.assessment.app import SPEC as ASSESSMENT
from services.enrolment.app import SPEC as ENROLMENT
from services.notifications.app import SPEC as NOTIFICATIONS
from shared.calendar import programme_today
from shared.contracts.common import WorkSite
from shared.contracts.training import (
    ClassApproved,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.runtime.paging import next_link
from tests.integration.test_funding_service import Source
from tests.integration.test_skeleton_services import registration
from tests.orgs import FUKANG, PUTUO, auth
from tests.support import eventually, running_service

pytestmark = pytest.mark.integration

HR, MEDIA, BODY = auth("hr"), auth("media"), auth("org-body-1")
STATIONS = {"fukang": (auth("station-fukang"), FUKANG), "putuo": (auth("station-putuo"), PUTUO)}
SERVICES = Path(__file__).resolve().parents[2] / "services"


async def query(dsn: str, sql: str, *args: object) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def run_sql(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def paged(api: httpx.AsyncClient, path: str, headers: dict[str, str],
                limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every item of a paged list, following its next links; and how many pages it took."""
    response = await api.get(path, params={"limit": limit}, headers=headers)
    assert response.status_code == 200, response.text
    items, pages = response.json(), 1
    while (link := next_link(response)) is not None:
        response = await api.get(link, headers=headers)
        assert response.status_code == 200, response.text
        assert len(response.json()) <= limit
        items += response.json()
        pages += 1
    return items, pages


def assert_each_group_once(items: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any],
                           expected: list[dict[str, Any]], limit: int, pages: int) -> None:
    keys = [key(i) for i in items]
    assert len(keys) == len(set(keys)), "a group came twice"
    assert items == expected
    assert pages == max(1, -(-len(expected) // limit)), "a page was short or one too many"


# -- enrolment: live enrolments by site, occupation, gender and level -----------------------

ENROLMENT_TRUTH = """
    SELECT p.province, p.city, p.site_name, e.occupation_code, p.gender,
           e.target_level AS level, count(*)::integer AS workers
    FROM enrolments e JOIN worker_profiles p USING (worker_id)
    WHERE e.withdrawn_on IS NULL
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"""
CLASSES = {"cls-e5": ("electrician", 5), "cls-e4": ("electrician", 4), "cls-w3": ("welder", 3)}


async def open_classes(src: Source, database: str) -> None:
    first = programme_today() + timedelta(days=7)
    for class_id, (occupation, level) in CLASSES.items():
        await src.send("training", f"class-{class_id}", ClassScheduled(
            class_id=class_id, institution_id="inst-1", occupation_code=occupation,
            target_level=level, site=WorkSite(**FUKANG), mode="night", capacity=50,
            required_minutes=120, sessions=[SessionPlan(
                session_id="s1", date=first, start_local="19:00", end_local="21:00",
                kind="classroom_theory", minutes=120)]))
        await src.send("training", f"class-{class_id}", ClassApproved(
            class_id=class_id, approved_on=programme_today()))

    async def known() -> bool:
        rows = await query(database, "SELECT count(*) AS n FROM class_views WHERE approved")
        return rows[0]["n"] == len(CLASSES)
    await eventually(known, seconds=30)


async def test_enrolment_counts_follow_enrolments_and_withdrawals(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        await open_classes(src, database)
        enrolled: list[tuple[str, dict[str, str]]] = []
        for serial in range(18):  # two sites, both genders, three occupation/level classes
            headers, site = STATIONS["fukang" if serial % 3 else "putuo"]
            worker = await api.post("/workers", headers=headers,
                                    json={**registration(700 + serial), "work_site": site})
            assert worker.status_code == 201, worker.text
            class_id = list(CLASSES)[serial // 2 % len(CLASSES)]
            enrolment = await api.post("/enrolments", headers=headers, json={
                "worker_id": worker.json()["worker_id"], "class_id": class_id})
            assert enrolment.status_code == 201, enrolment.text
            enrolled.append((enrolment.json()["enrolment_id"], headers))
        # withdrawals take counts down, and the whole of one group (Putuo, even serials, all
        # in cls-e5: the same gender) to none
        withdrawn = [e for i, e in enumerate(enrolled) if i % 6 == 0 or i % 5 == 1]
        for enrolment_id, headers in withdrawn:
            answer = await api.post(f"/enrolments/{enrolment_id}/withdrawal", headers=headers,
                                    json={"reason": "回家"})
            assert answer.status_code == 204, answer.text

        emptied = await query(database, ENROLMENT_TRUTH.replace(
            "WHERE e.withdrawn_on IS NULL", "").replace(
            "count(*)::integer", "count(*) FILTER (WHERE e.withdrawn_on IS NULL)::integer"))
        assert any(g["workers"] == 0 for g in emptied)
        truth = await query(database, ENROLMENT_TRUTH)
        assert len(truth) == len(emptied) - 1 >= 4
        assert sum(g["workers"] for g in truth) == 18 - len(withdrawn)
        stored = await query(database, "SELECT * FROM enrolment_counts ORDER BY 1, 2, 3, 4, 5, 6")
        assert stored == truth, "a group left at zero is deleted; the others are exact"

        for limit in (1, 4, 1000):
            items, pages = await paged(api, "/statistics/enrolments", MEDIA, limit)
            assert_each_group_once(items, lambda g: tuple(g.values())[:6], truth, limit, pages)

        # an existing store: the migration's backfill gives the same counts
        await run_sql(database, "DROP TABLE enrolment_counts")
        await run_sql(database, (SERVICES / "enrolment/migrations/0003_enrolment_counts.sql")
                      .read_text())
        items, _ = await paged(api, "/statistics/enrolments", MEDIA, 3)
        assert items == truth


# -- assessment: live certificates by occupation and level ----------------------------------

CERTIFICATE_TRUTH = """
    SELECT occupation_code, level, count(*)::integer AS certificates FROM certificates
    WHERE revoked_on IS NULL GROUP BY 1, 2 ORDER BY 1, 2"""
ASSESSED = {"c-e5": ("electrician", 5), "c-e4": ("electrician", 4), "c-w3": ("welder", 3),
            "c-w2": ("welder", 2)}
CANDIDATES = [f"w-{i}" for i in range(4)]


async def completed_classes(src: Source, database: str) -> None:
    today, site = programme_today(), WorkSite(**FUKANG)
    day = today - timedelta(days=2)
    for class_id, (occupation, level) in ASSESSED.items():
        await src.send("training", f"class-{class_id}", ClassScheduled(
            class_id=class_id, institution_id="inst-1", occupation_code=occupation,
            target_level=level, site=site, mode="night", capacity=30, required_minutes=120,
            trainer_ids=["trainer-1"], sessions=[SessionPlan(
                session_id="s1", date=day, start_local="19:00", end_local="21:00",
                kind="classroom_theory", minutes=120)]))
        await src.send("training", f"class-{class_id}", ClassCompleted(
            class_id=class_id, institution_id="inst-1", occupation_code=occupation,
            target_level=level, site=site, first_session_date=day,
            completed_on=today - timedelta(days=1), threshold_percent=80, trainees=[
                TraineeOutcome(worker_id=w, attended_minutes=120, required_minutes=120,
                               attendance_ratio=1.0, met_threshold=True) for w in CANDIDATES]))

    async def known() -> bool:
        rows = await query(database, "SELECT count(*) AS n FROM class_views "
                                     "WHERE completed_on IS NOT NULL")
        return rows[0]["n"] == len(ASSESSED)
    await eventually(known, seconds=30)


async def test_certificate_counts_follow_passes_voids_and_revocations(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    today = programme_today()
    async with running_service(ASSESSMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        assert (await api.post("/bodies", headers=HR, json={
            "body_id": "body-1", "name": "鉴定中心", "code": "YNSK"})).status_code == 204
        assert (await api.post("/bodies/body-1/assessors", headers=BODY,
                               json={"assessor_id": "assessor-1"})).status_code == 204
        await completed_classes(src, database)
        passes: dict[str, list[tuple[str, str]]] = {}
        for class_id in ASSESSED:
            assessment_id = f"as-{class_id}"
            scheduled = await api.post("/assessments", headers=BODY, json={
                "assessment_id": assessment_id, "body_id": "body-1", "class_id": class_id,
                "assessor_ids": ["assessor-1"], "scheduled_on": today.isoformat()})
            assert scheduled.status_code == 204, scheduled.text
            for i, worker in enumerate(CANDIDATES):
                result = await api.post(f"/assessments/{assessment_id}/results", headers=BODY,
                                        json={"worker_id": worker, "practical_score": 75,
                                              "theory_score": 10 if i == 3 else 80})
                assert result.status_code == 201, result.text
                if result.json()["certificate_number"] is not None:
                    passes.setdefault(class_id, []).append(
                        (assessment_id, result.json()["result_id"]))
        # a voided pass revokes its certificate; a certificate revoked on its own; the two
        # passes of c-w2 voided and revoked, so its group goes to none
        voids = [passes["c-e5"][0], passes["c-w2"][0]]
        for assessment_id, result_id in voids:
            assert (await api.post(f"/assessments/{assessment_id}/results/{result_id}/void",
                                   headers=BODY, json={"reason": "marking error"})
                    ).status_code == 204
        to_revoke = await query(database, "SELECT certificate_id FROM certificates "
                                          "WHERE revoked_on IS NULL AND assessment_id = ANY($1)",
                                ["as-c-w2"])
        to_revoke += (await query(database, "SELECT certificate_id FROM certificates WHERE "
                                            "revoked_on IS NULL AND assessment_id = 'as-c-e4' "
                                            "LIMIT 1"))
        for row in to_revoke:
            assert (await api.post(f"/certificates/{row['certificate_id']}/revocation",
                                   headers=BODY, json={"reason": "fraud"})).status_code == 204

        truth = await query(database, CERTIFICATE_TRUTH)
        assert [(g["occupation_code"], g["level"]) for g in truth] == [
            ("electrician", 4), ("electrician", 5), ("welder", 3)]
        assert [g["certificates"] for g in truth] == [2, 2, 3]
        assert await query(database, "SELECT * FROM certificate_counts ORDER BY 1, 2") == truth

        for limit in (1, 2, 1000):
            items, pages = await paged(api, "/statistics/certificates", MEDIA, limit)
            assert_each_group_once(items, lambda g: (g["occupation_code"], g["level"]), truth,
                                   limit, pages)

        await run_sql(database, "DROP TABLE certificate_counts")
        await run_sql(database, (SERVICES / "assessment/migrations/0002_certificate_counts.sql")
                      .read_text())
        items, _ = await paged(api, "/statistics/certificates", MEDIA, 2)
        assert items == truth


# -- notifications: notices by kind and state -----------------------------------------------

SUMMARY_TRUTH = """SELECT kind, state, count(*)::integer AS count FROM notifications
                   GROUP BY 1, 2 ORDER BY 1, 2"""


async def add_notices(conn: asyncpg.Connection, kinds_and_states: list[tuple[str, str]]) -> None:
    """Notices written as the outbox writes them, several in one statement and one by one."""
    at = datetime(2025, 3, 1, 8, tzinfo=UTC)
    rows = [(uuid.uuid4(), uuid.uuid4(), "songji.enrolment.WorkerEnrolled.v1", "c", "worker",
             f"w-{i}", kind, "", "{}", at, state)
            for i, (kind, state) in enumerate(kinds_and_states)]
    columns = ("notification_id, source_event_id, source_event_type, correlation_id, "
               "recipient_kind, recipient_id, kind, ref, params, not_before, state")
    await conn.executemany(f"INSERT INTO notifications ({columns}) VALUES ($1, $2, $3, $4, $5, "
                           "$6, $7, $8, $9, $10, $11)", rows[:3])
    await conn.execute(
        f"INSERT INTO notifications ({columns}) SELECT * FROM unnest($1::uuid[], $2::uuid[], "
        "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[], "
        "$10::timestamptz[], $11::text[])", *[list(c) for c in zip(*rows[3:], strict=True)])


async def test_notification_summary_follows_every_statement_that_moves_a_notice(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        conn = await asyncpg.connect(database)
        try:
            kinds = ["class_reminder", "enrolment_confirmed", "payment_received", "summary"]
            await add_notices(conn, [(kinds[i % 4], "pending") for i in range(12)]
                              + [(kinds[i % 3], "awaiting_gender") for i in range(5)])
            # a claim, a finish, a cancel, a statement that moves no notice, a deletion
            await conn.execute("UPDATE notifications SET state = 'claimed' WHERE notification_id"
                               " IN (SELECT notification_id FROM notifications WHERE state = "
                               "'pending' ORDER BY recipient_id LIMIT 7)")
            await conn.execute("UPDATE notifications SET state = 'sent' WHERE state = 'claimed' "
                               "AND kind <> 'summary'")
            await conn.execute("UPDATE notifications SET state = 'cancelled' "
                               "WHERE state = 'awaiting_gender' AND kind = 'class_reminder'")
            await conn.execute("UPDATE notifications SET attempts = attempts + 1")
            await conn.execute("DELETE FROM notifications WHERE kind = 'enrolment_confirmed' "
                               "AND state = 'awaiting_gender'")
        finally:
            await conn.close()

        truth = await query(database, SUMMARY_TRUTH)
        assert {g["state"] for g in truth} >= {"pending", "claimed", "sent", "cancelled"}
        stored = await query(database, "SELECT kind, state, count::integer FROM "
                                       "notification_counts WHERE count <> 0 ORDER BY 1, 2")
        assert stored == truth
        for limit in (1, 3, 1000):
            items, pages = await paged(api, "/notifications/summary", HR, limit)
            assert_each_group_once(items, lambda g: (g["kind"], g["state"]), truth, limit,
                                   pages)

        await run_sql(database, "DROP TABLE notification_counts CASCADE; "
                                "DROP FUNCTION notification_counts_add CASCADE")
        await run_sql(database, (SERVICES / "notifications/migrations/0005_paged_reads.sql")
                      .read_text())
        items, _ = await paged(api, "/notifications/summary", HR, 2)
        assert items == truth
