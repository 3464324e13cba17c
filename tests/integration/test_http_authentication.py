"""Who may ask, and who acted, over HTTP: every route of every service needs a bearer token
unless it is public; notifications' reads follow the shared policy; the actor recorded is the
token's (an organisation, or one of its officers), never what the request says; a duplicate
registration tells another station nothing to probe with; a role's own reads are allowed."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import asyncpg
import pytest

from services.assessment.app import SPEC as ASSESSMENT
from services.employment.app import SPEC as EMPLOYMENT
from services.enrolment.app import SPEC as ENROLMENT
from services.funding.app import SPEC as FUNDING
from services.notifications.app import SPEC as NOTIFICATIONS
from services.training.app import SPEC as TRAINING
from shared.runtime.service import ServiceSpec
from tests.integration.test_funding_service import POLICY, Source, run_class
from tests.integration.test_skeleton_services import registration
from tests.orgs import PUTUO, auth
from tests.support import eventually, running_service

pytestmark = pytest.mark.integration

SPECS = (ENROLMENT, TRAINING, ASSESSMENT, FUNDING, NOTIFICATIONS, EMPLOYMENT)
# What answers without a token: liveness, readiness, the event catalogue (and the OpenAPI
# pages themselves, which are not in the document).
PUBLIC = re.compile(r"^/(health|ready|events/.*)$")
METHODS = ("get", "post", "put", "patch", "delete")


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path) of an OpenAPI document, its path parameters filled in."""
    found = []
    for template, item in document["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            path = template
            for param in item[method].get("parameters", []):
                if param["in"] == "path":
                    fmt = param.get("schema", {}).get("format")
                    value = str(uuid.uuid4()) if fmt == "uuid" else "x-1"
                    path = path.replace("{" + param["name"] + "}", value)
            assert "{" not in path, template
            found.append((method, path))
    return found


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
async def test_every_route_of_every_service_needs_a_token(
    spec: ServiceSpec, database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(spec, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, client):
        document = (await client.get("/openapi.json")).json()
        for page in ("/docs", "/docs/oauth2-redirect", "/openapi.json"):
            assert (await client.get(page)).status_code == 200, page
        guarded = 0
        for method, path in operations(document):
            if PUBLIC.match(path):
                answer = await client.request(method, path)
                assert answer.status_code != 401, (method, path)
                continue
            guarded += 1
            for headers, code in (({}, "missing_token"),
                                  ({"Authorization": "Bearer not-a-known-token"},
                                   "unknown_token"),
                                  ({"Authorization": "Basic aHI6aHI="}, "missing_token"),
                                  # the header this service used to believe proves nothing
                                  ({"X-Acting-User": "hr-officer-1"}, "missing_token")):
                answer = await client.request(method, path, headers=headers, json={})
                assert answer.status_code == 401, (method, path, answer.text)
                assert answer.json()["code"] == code, (method, path)
        assert guarded >= 3, document["paths"].keys()


async def test_notifications_reads_belong_to_the_hr_bureau_and_the_auditors(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, notes):
        conn = await asyncpg.connect(database)
        try:
            await conn.execute(
                "INSERT INTO known_workers (worker_id, gender, birth_year, registered_at, "
                "event_id) VALUES ('w-1', 'female', 1990, now(), $1)", uuid.uuid4())
        finally:
            await conn.close()
        notice = str(uuid.uuid4())
        reads = {"/workers": {"hr"}, "/workers/w-1": {"hr"},
                 "/notifications": {"hr", "auditor"},
                 "/notifications/summary": {"hr", "auditor"},
                 f"/notifications/{notice}/attempts": {"hr", "auditor"},
                 "/webhooks": {"hr"}}
        for path, allowed in reads.items():
            assert (await notes.get(path)).status_code == 401, path
            for org in ("hr", "auditor", "station-fukang", "media", "org-inst-1"):
                answer = await notes.get(path, headers=auth(org))
                if org in allowed:
                    assert answer.status_code == 200, (path, org, answer.text)
                else:
                    assert (answer.status_code, answer.json()["code"]) == \
                        (403, "wrong_role"), (path, org)
        worker = (await notes.get("/workers/w-1", headers=auth("hr"))).json()
        assert (worker["gender"], worker["birth_year"]) == ("female", 1990)


async def actors(database: str) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch("SELECT event_type, metadata, data FROM events ORDER BY position")
    finally:
        await conn.close()
    out = []
    for row in rows:
        actor = json.loads(row["metadata"]).get("actor") or {}
        out.append((row["event_type"].split(".")[2], actor.get("org"), actor.get("user"),
                    json.loads(row["data"])))
    return out


async def test_who_acted_is_the_token_s_never_the_body_s_or_a_header_s(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    officer = {**auth("hr", "hr-officer-2"), "X-Acting-User": "mallory"}
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, test_clock=True) as (_, api):
        # the organisation's own token: the organisation acted, no officer (whatever is said)
        published = await api.post("/policies", json=POLICY,
                                   headers={**auth("hr"), "X-Acting-User": "mallory"})
        assert published.status_code == 202, published.text
        allocated = await api.post("/budget/allocations", headers=officer, json={
            "allocation_id": "a1", "fund": "municipal-special", "amount_fen": 10_000_00})
        assert allocated.status_code == 201, allocated.text
        await run_class(src, {"w-1": 15})

        async def due() -> list[dict[str, Any]]:
            return (await api.get("/ledger", headers=auth("hr"))).json()
        lines = await eventually(due)
        batch = {"batch_id": "b1", "line_ids": [x["line_id"] for x in lines]}
        claimed = await api.post("/batches", headers=officer,
                                 json={**batch, "approved_by": "someone-else"})
        assert claimed.status_code == 422, claimed.text  # an approver is not the body's to say
        assert [e["loc"] for e in claimed.json()["detail"]] == [["body", "approved_by"]]
        approved = await api.post("/batches", json=batch, headers=officer)
        assert approved.status_code == 201, approved.text
        [approval] = [e for e in approved.json() if "approved_by" in e]
        assert approval["approved_by"] == "hr-officer-2"

    recorded = await actors(database)
    assert [(t, org, user) for t, org, user, _ in recorded] == [
        ("FundingPolicyPublished", "hr", None),
        ("BudgetAllocated", "hr", "hr-officer-2"),
        *[(t, org, user) for t, org, user, _ in recorded[2:]
          if t not in ("DisbursementApproved", "PublicNoticeStarted")],
        ("DisbursementApproved", "hr", "hr-officer-2"),
        ("PublicNoticeStarted", "hr", "hr-officer-2"),
    ]
    [data] = [d for t, _, _, d in recorded if t == "DisbursementApproved"]
    assert data["approved_by"] == "hr-officer-2"
    assert "mallory" not in json.dumps([r[1:] for r in recorded])


async def test_a_duplicate_registration_names_the_worker_only_to_a_station_that_may_see_it(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, enrol):
        first = await enrol.post("/workers", json=registration(41),
                                 headers=auth("station-fukang"))
        assert first.status_code == 201, first.text
        worker_id = first.json()["worker_id"]
        # another station, registering the same ID number at a site of its own
        probe = await enrol.post("/workers", json={**registration(41), "work_site": PUTUO},
                                 headers=auth("station-putuo"))
        assert probe.status_code == 409, probe.text
        assert probe.json() == {"code": "worker_already_registered",
                                "message": probe.json()["message"]}
        assert worker_id not in probe.text
        # the station that registered the worker is told which one it is
        again = await enrol.post("/workers", json=registration(41),
                                 headers=auth("station-fukang"))
        assert (again.status_code, again.json().get("worker_id")) == (409, worker_id)


async def test_the_hr_bureau_may_read_an_assessment_s_results(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # The read is checked against a read action, not against recording a result (which only
    # an assessment body does): HR and auditors are told the assessment is unknown, not that
    # their role may not ask.
    async with running_service(ASSESSMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, assessment):
        for org in ("hr", "auditor", "org-body-1"):
            answer = await assessment.get("/assessments/as-9/results", headers=auth(org))
            assert (answer.status_code, answer.json()["code"]) == \
                (404, "assessment_unknown"), (org, answer.text)
        for org in ("station-fukang", "media"):
            answer = await assessment.get("/assessments/as-9/results", headers=auth(org))
            assert (answer.status_code, answer.json()["code"]) == (403, "wrong_role"), org
