"""Idempotency-Key on the real PostgreSQL and broker: a retry with the same key and request
gets the first answer with no second effect; the same key with another request is refused
and stores nothing; concurrent duplicates take effect once; the key's row and the effect
commit together or not at all; keys are scoped by the acting organisation."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet

from services.enrolment.app import SPEC as ENROLMENT
from services.enrolment.domain.national_id import check_digit
from services.funding.app import SPEC as FUNDING
from services.notifications.app import SPEC as NOTIFICATIONS
from shared.runtime import idempotency
from shared.runtime.idempotency import HEADER, REPLAYED_HEADER, IdempotentRequest
from tests.integration.test_funding_service import POLICY, Source, certificate, run_class
from tests.orgs import FUKANG, PUTUO, auth
from tests.support import eventually, running_service

pytestmark = pytest.mark.integration

HR = auth("hr")


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, HEADER: key}


async def rows(database: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def event_types(database: str) -> list[str]:
    return [r["event_type"].split(".")[2]
            for r in await rows(database, "SELECT event_type FROM events ORDER BY position")]


async def test_a_retried_policy_gets_the_first_answer_and_publishes_one_version(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        first = await api.post("/policies", json=POLICY, headers=keyed(HR, "policy-1"))
        assert first.status_code == 202, first.text
        assert REPLAYED_HEADER not in first.headers
        again = await api.post("/policies", json=POLICY, headers=keyed(HR, "policy-1"))
        assert again.status_code == 202 and again.headers[REPLAYED_HEADER] == "true"
        assert again.content == first.content and again.json()["version"] == 1
        # the same job, and where to follow it, with no second job queued
        assert again.headers["Location"] == first.headers["Location"] == (
            f"/jobs/{first.json()['job']}")
        assert len(await rows(database, "SELECT 1 FROM funding_jobs")) == 1
        # the same JSON in another key order and spacing is the same request
        reordered = json.dumps(dict(reversed(POLICY.items())), indent=2).encode()
        assert (await api.post("/policies", content=reordered, headers={
            **keyed(HR, "policy-1"), "content-type": "application/json"})).content == first.content
        assert (await event_types(database)).count("FundingPolicyPublished") == 1

        # the same key with another request: refused, nothing stored or published
        changed = {**POLICY, "attendance_threshold_percent": 75}
        reused = await api.post("/policies", json=changed, headers=keyed(HR, "policy-1"))
        assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
        elsewhere = await api.post("/budget/allocations", headers=keyed(HR, "policy-1"), json={
            "allocation_id": "a1", "fund": "municipal-special", "amount_fen": 100})
        assert elsewhere.status_code == 422
        assert (await event_types(database)).count("FundingPolicyPublished") == 1
        assert "BudgetAllocated" not in await event_types(database)
        [kept] = await rows(database, "SELECT org_id, key, status_code FROM idempotency_keys")
        assert tuple(kept) == ("hr", "policy-1", 202)

        # without a key, a retry is a new version, as before
        for _ in range(2):
            assert (await api.post("/policies", json=POLICY, headers=HR)).status_code == 202
        assert (await event_types(database)).count("FundingPolicyPublished") == 3

        # a refused command stores nothing: the key is still free for a corrected request
        bad = {**POLICY, "uplifts": [{"percent": 60, "province": "Xinjiang"}]}
        refused = await api.post("/policies", json=bad, headers=keyed(HR, "policy-2"))
        assert (refused.status_code, refused.json()["code"]) == (409, "uplift_above_ceiling")
        assert len(await rows(database, "SELECT 1 FROM idempotency_keys")) == 1
        fixed = await api.post("/policies", json=changed, headers=keyed(HR, "policy-2"))
        assert fixed.status_code == 202 and fixed.json()["version"] == 4
        malformed = await api.post("/policies", json=POLICY, headers=keyed(HR, "a key"))
        assert malformed.status_code == 422  # printable ASCII without spaces


async def test_concurrent_requests_with_one_key_take_effect_once(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        answers = await asyncio.gather(*(
            api.post("/policies", json=POLICY, headers=keyed(HR, "policy-once"))
            for _ in range(6)))
        assert {a.status_code for a in answers} == {202}
        assert len({a.content for a in answers}) == 1
        assert sum(REPLAYED_HEADER not in a.headers for a in answers) == 1
        assert (await event_types(database)).count("FundingPolicyPublished") == 1


async def test_a_duplicate_waits_for_the_first_and_gives_up_with_409_while_it_runs(
    database: str, kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "IN_FLIGHT_WAIT", "300ms")
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        first = await asyncpg.connect(database)  # a first request, still in its transaction
        try:
            async with first.transaction():
                await first.execute("INSERT INTO idempotency_keys (org_id, key, fingerprint) "
                                    "VALUES ('hr', 'busy', '\\x00')")
                waited = await api.post("/policies", json=POLICY, headers=keyed(HR, "busy"))
                assert (waited.status_code, waited.json()["code"]) == (
                    409, "idempotency_key_in_use")
                raise RuntimeError("the first request fails: its key is free again")
        except RuntimeError:
            pass
        finally:
            await first.close()
        assert (await api.post("/policies", json=POLICY,
                               headers=keyed(HR, "busy"))).status_code == 202
        assert await event_types(database) == ["FundingPolicyPublished"]


async def test_the_key_commits_with_the_effect_or_not_at_all(
    database: str, kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure between the effect and storing its answer (a crash, a lost connection)
    rolls back both: a retry then takes effect once, instead of replaying nothing."""
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        real_store = IdempotentRequest._store

        async def crash(*_: object, **__: object) -> None:
            raise ConnectionResetError("the database went away before the answer was stored")

        monkeypatch.setattr(IdempotentRequest, "_store", crash)
        with pytest.raises(ConnectionResetError):
            await api.post("/policies", json=POLICY, headers=keyed(HR, "policy-3"))
        assert await event_types(database) == []
        assert await rows(database, "SELECT 1 FROM idempotency_keys") == []
        assert await rows(database, "SELECT 1 FROM funding_jobs") == []  # nor its job
        monkeypatch.setattr(IdempotentRequest, "_store", real_store)
        retried = await api.post("/policies", json=POLICY, headers=keyed(HR, "policy-3"))
        assert retried.status_code == 202 and retried.json()["version"] == 1
        assert await event_types(database) == ["FundingPolicyPublished"]


async def test_a_retried_disbursement_gets_its_batch_and_bank_file_again(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, test_clock=True) as (_, api):
        assert (await api.post("/policies", json=POLICY, headers=HR)).status_code == 202
        assert (await api.post("/budget/allocations", headers=HR, json={
            "allocation_id": "a1", "fund": "municipal-special",
            "amount_fen": 10_000_00})).status_code == 201
        await run_class(src, {"w-1": 15, "w-2": 10})
        await src.send("assessment", "cert-w-1", certificate("w-1"))

        async def due() -> list[dict]:
            lines = (await api.get("/ledger", headers=HR)).json()
            return lines if len(lines) == 3 else []
        lines = await eventually(due)

        batch = {"batch_id": "b1", "line_ids": [x["line_id"] for x in lines]}
        approved = await api.post("/batches", json=batch, headers=keyed(HR, "batch-b1"))
        assert approved.status_code == 201, approved.text
        again = await api.post("/batches", json=batch, headers=keyed(HR, "batch-b1"))
        assert (again.status_code, again.content) == (201, approved.content)
        # without the key, the retry is refused and the client is left to guess
        unkeyed = await api.post("/batches", json=batch, headers=HR)
        assert (unkeyed.status_code, unkeyed.json()["code"]) == (409, "batch_exists")

        notice = next(e for e in approved.json() if "last_day" in e)
        clock = (await api.get("/test-clock", headers=HR)).json()
        wait = (date.fromisoformat(notice["last_day"]) - date.fromisoformat(clock["today"]))
        assert (await api.post("/test-clock", headers=HR,
                               json={"days": wait.days + 1})).status_code == 200

        accounts = {p: {"account_name": f"payee {p}", "account_number": f"6217000000{i:04d}",
                        "bank_code": "RCCYN"}
                    for i, p in enumerate(sorted({x["payee_id"] for x in lines}))}
        request = {"instruction_id": "pay-1", "accounts": accounts}
        issued = await api.post("/batches/b1/instructions", json=request,
                                headers=keyed(HR, "pay-1"))
        assert issued.status_code == 200, issued.text
        reissued = await api.post("/batches/b1/instructions", json=request,
                                  headers=keyed(HR, "pay-1"))
        assert reissued.status_code == 200 and reissued.headers[REPLAYED_HEADER] == "true"
        assert reissued.content == issued.content  # the bank file, byte for byte
        assert reissued.headers["X-File-SHA256"] == issued.headers["X-File-SHA256"]
        assert reissued.headers["content-type"] == issued.headers["content-type"]
        # funding never stores the accounts: the kept file is sealed under the request
        [kept] = await rows(database, "SELECT body, sealed FROM idempotency_keys "
                                      "WHERE key = 'pay-1'")
        assert kept["sealed"] and b"62170000000000" not in bytes(kept["body"])
        assert b"62170000000000" in issued.content
        other_accounts = {**request, "accounts": {
            p: {**a, "account_number": "99990000111122"} for p, a in accounts.items()}}
        refused = await api.post("/batches/b1/instructions", json=other_accounts,
                                 headers=keyed(HR, "pay-1"))
        assert refused.status_code == 422

        confirmation = {"instruction_id": "pay-1", "bank_reference": "RCC-1",
                        "failed_line_ids": []}
        for _ in range(2):
            confirmed = await api.post("/batches/b1/confirmations", json=confirmation,
                                       headers=keyed(HR, "confirm-1"))
            assert confirmed.status_code == 200, confirmed.text
        types = await event_types(database)
        assert [types.count(t) for t in ("DisbursementApproved", "PaymentInstructionIssued",
                                         "PaymentConfirmed")] == [1, 1, 1]
        paid = {x["status"] for x in (await api.get("/ledger", headers=HR)).json()}
        assert paid == {"paid"}


def registration(first17: str, site: dict[str, str]) -> dict[str, object]:
    return {"name": "李四妹", "national_id": first17 + check_digit(first17),
            "mobile": "15912345678", "hometown_county": "禄劝彝族苗族自治县",
            "hometown_township": "翠华镇", "household_county": "禄劝彝族苗族自治县",
            "work_site": site, "employer": "阜康某农业公司"}


async def test_survey_keys_are_scoped_by_the_acting_organisation(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    survey = {"desired_occupations": ["electrician"], "availability": ["night"],
              "earliest_start": "2025-07-20"}
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        ids = {}
        for org, first17, site in (("station-fukang", "53012819950612002", FUKANG),
                                   ("station-putuo", "53012819950612003", PUTUO)):
            registered = await api.post("/workers", json=registration(first17, site),
                                        headers=auth(org))
            assert registered.status_code == 201, registered.text
            ids[org] = registered.json()["worker_id"]

        async def post(org: str) -> httpx.Response:
            return await api.post(f"/workers/{ids[org]}/intake-surveys", json=survey,
                                  headers=keyed(auth(org), "survey-1"))
        fukang = [await post("station-fukang") for _ in range(3)]
        assert {r.status_code for r in fukang} == {201}
        assert len({r.json()["survey_id"] for r in fukang}) == 1
        putuo = await post("station-putuo")  # another station's key: its own request
        assert putuo.status_code == 201 and REPLAYED_HEADER not in putuo.headers
        assert (await event_types(database)).count("IntakeSurveyRecorded") == 2
        assert (await api.post(f"/workers/{ids['station-fukang']}/intake-surveys",
                               json=survey, headers=auth("station-fukang"))).status_code == 201
        assert (await event_types(database)).count("IntakeSurveyRecorded") == 3


async def test_a_retried_webhook_registration_makes_one_webhook_and_keeps_its_secret_sealed(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, local_channel_path=tmp_path / "m.jsonl",
        webhook_secret_key=Fernet.generate_key().decode(), webhook_allow_local=True,
    ) as (_, api):
        request = {"url": "http://127.0.0.1:9/songji",
                   "event_types": ["songji.assessment.SkillLevelCertified.v1"]}
        answers = [await api.post("/webhooks", json=request, headers=keyed(HR, "hook-1"))
                   for _ in range(2)]
        assert [a.status_code for a in answers] == [201, 201]
        assert answers[0].content == answers[1].content
        secret = answers[0].json()["secret"]
        assert len((await api.get("/webhooks", headers=HR)).json()) == 1
        [kept] = await rows(database, "SELECT body, sealed FROM idempotency_keys")
        assert kept["sealed"] and secret.encode() not in bytes(kept["body"])


async def test_a_retried_webhook_removal_gets_its_first_answer(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, local_channel_path=tmp_path / "m.jsonl",
        webhook_secret_key=Fernet.generate_key().decode(), webhook_allow_local=True,
    ) as (_, api):
        registered = await api.post("/webhooks", headers=HR, json={
            "url": "http://127.0.0.1:9/songji",
            "event_types": ["songji.assessment.SkillLevelCertified.v1"]})
        assert registered.status_code == 201, registered.text
        path = f"/webhooks/{registered.json()['webhook_id']}"
        refused = await api.delete(path, headers=keyed(auth("auditor"), "remove-1"))
        assert (refused.status_code, refused.json()["code"]) == (403, "wrong_role")
        removed = [await api.delete(path, headers=keyed(HR, "remove-1")) for _ in range(2)]
        assert [r.status_code for r in removed] == [204, 204]
        assert REPLAYED_HEADER not in removed[0].headers
        assert removed[1].headers[REPLAYED_HEADER] == "true"
        # without the key, the retry is told what is true now: there is no such webhook
        gone = await api.delete(path, headers=HR)
        assert (gone.status_code, gone.json()["code"]) == (404, "unknown_webhook")
        kept = await rows(database, "SELECT org_id, key, status_code FROM idempotency_keys "
                                    "ORDER BY key")
        assert [tuple(k) for k in kept] == [("hr", "remove-1", 204)]
