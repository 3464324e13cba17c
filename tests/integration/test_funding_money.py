"""Funding's money through its HTTP API on the real PostgreSQL and broker: ids unique across
funding (a reused one is 409 and stores nothing; a retry with its Idempotency-Key still gets
its first answer), amounts bounded (422), a line the bank rejected due again and paid once
in a new batch, money recovered back in its fund, and the auditor's replay agreeing with the
recorded ledger and the budget after both."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from services.funding.app import SPEC as FUNDING
from shared.contracts.assessment import CertificationRevoked
from shared.runtime.idempotency import REPLAYED_HEADER
from songji.audit.funding_replay import records_from_topics, replay
from tests.integration.test_funding_service import POLICY, Source, certificate, run_class
from tests.integration.test_idempotency import HR, event_types, keyed
from tests.support import eventually, public_keys_in_tests, running_service

pytestmark = pytest.mark.integration

FUND = "municipal-special"


async def ledger(api: httpx.AsyncClient, **params: str) -> list[dict]:
    return (await api.get("/ledger", headers=HR, params=params)).json()


async def budget(api: httpx.AsyncClient) -> dict:
    [fund] = (await api.get("/budget", headers=HR)).json()
    return fund


async def started(api: httpx.AsyncClient, src: Source) -> list[dict]:
    """Policy, 10,000 yuan, a class of two with one certificate: three lines due."""
    assert (await api.post("/policies", json=POLICY, headers=HR)).status_code == 202
    assert (await api.post("/budget/allocations", headers=HR, json={
        "allocation_id": "a1", "fund": FUND, "amount_fen": 10_000_00})).status_code == 201
    await run_class(src, {"w-1": 15, "w-2": 10})
    await src.send("assessment", "cert-w-1", certificate("w-1"))

    async def due() -> list[dict]:
        lines = await ledger(api)
        return lines if len(lines) == 3 else []
    return await eventually(due)


async def approve(api: httpx.AsyncClient, batch: str, line_ids: list[str]) -> dict:
    approved = await api.post("/batches", headers=HR, json={
        "batch_id": batch, "line_ids": line_ids})
    assert approved.status_code == 201, approved.text
    return next(e for e in approved.json() if "last_day" in e)


async def after_notice(api: httpx.AsyncClient, notice: dict) -> None:
    clock = (await api.get("/test-clock", headers=HR)).json()
    wait = date.fromisoformat(notice["last_day"]) - date.fromisoformat(clock["today"])
    moved = await api.post("/test-clock", headers=HR, json={"days": wait.days + 1})
    assert moved.status_code == 200, moved.text


def accounts(lines: list[dict]) -> dict:
    return {p: {"account_name": f"payee {p}", "account_number": f"6217000000{i:04d}",
                "bank_code": "RCCYN"}
            for i, p in enumerate(sorted({x["payee_id"] for x in lines}))}


async def instruct(api: httpx.AsyncClient, batch: str, instruction: str, lines: list[dict],
                   key: str | None = None) -> httpx.Response:
    return await api.post(f"/batches/{batch}/instructions",
                          headers=keyed(HR, key) if key else HR,
                          json={"instruction_id": instruction, "accounts": accounts(lines)})


async def confirm(api: httpx.AsyncClient, batch: str, instruction: str,
                  failed: list[str] = ()) -> None:
    confirmed = await api.post(f"/batches/{batch}/confirmations", headers=HR, json={
        "instruction_id": instruction, "bank_reference": f"RCC-{instruction}",
        "failed_line_ids": list(failed)})
    assert confirmed.status_code == 200, confirmed.text


async def test_reused_ids_are_refused_and_store_nothing(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, test_clock=True) as (_, api):
        lines = await started(api, src)
        ids = [x["line_id"] for x in lines]
        again = await api.post("/budget/allocations", headers=HR, json={
            "allocation_id": "a1", "fund": "other-fund", "amount_fen": 1})
        assert (again.status_code, again.json()["code"]) == (409, "allocation_exists")

        notice = await approve(api, "b1", ids[:2])
        await approve(api, "b2", ids[2:])
        reused = await api.post("/batches", headers=HR, json={
            "batch_id": "b1", "line_ids": ids[2:]})
        assert (reused.status_code, reused.json()["code"]) == (409, "batch_exists")

        objection = {"objection_id": "o1", "line_id": ids[0], "ground": "not_attended"}
        raised = await api.post("/batches/b1/objections", headers=HR, json=objection)
        assert raised.status_code == 201, raised.text
        for batch, line in (("b1", ids[1]), ("b2", ids[2])):
            twice = await api.post(f"/batches/{batch}/objections", headers=HR, json={
                "objection_id": "o1", "line_id": line, "ground": "duplicate"})
            assert twice.status_code == 409, twice.text
            assert twice.json()["code"] == "objection_exists"
        held = {x["line_id"]: x["status"] for x in await ledger(api)}
        assert (held[ids[0]], held[ids[1]], held[ids[2]]) == ("on_hold", "approved",
                                                               "approved")
        dismissed = await api.post("/batches/b1/objections/o1/resolution", headers=HR,
                                   json={"outcome": "dismissed"})
        assert dismissed.status_code == 200, dismissed.text

        await after_notice(api, notice)
        first = await instruct(api, "b1", "pay-1", lines, key="k-pay-1")
        assert first.status_code == 200, first.text
        # a retry of the very request, with its key: the same bank file, no second one
        retry = await instruct(api, "b1", "pay-1", lines, key="k-pay-1")
        assert (retry.status_code, retry.headers[REPLAYED_HEADER]) == (200, "true")
        assert retry.content == first.content
        # the same instruction id in another request: refused, no file
        for batch, key in (("b1", None), ("b2", None), ("b2", "k-pay-1-elsewhere")):
            second = await instruct(api, batch, "pay-1", lines, key=key)
            assert second.status_code == 409, second.headers
            assert second.json()["code"] == "instruction_exists"
            assert "text/csv" not in second.headers["content-type"]
        types = await event_types(database)
        assert [types.count(t) for t in ("BudgetAllocated", "DisbursementApproved",
                                         "ObjectionRaised", "PaymentInstructionIssued")] \
            == [1, 2, 1, 1]


async def test_amounts_above_the_money_maximum_are_malformed(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        huge = await api.post("/budget/allocations", headers=HR, json={
            "allocation_id": "a-huge", "fund": FUND, "amount_fen": 10**30})
        assert huge.status_code == 422, huge.text
        rich = {**POLICY, "living_subsidy": {"meals_fen_per_day": 10**17,
                                             "transport_fen_per_day": 0}}
        refused = await api.post("/policies", headers=HR, json=rich)
        assert refused.status_code == 422, refused.text
        recovery = await api.post("/recoveries", headers=HR, json={
            "recovery_id": "r1", "line_id": "l1", "amount_fen": 10**30})
        assert recovery.status_code == 422, recovery.text
        estimate = await api.get("/grants/estimate", headers=HR, params={
            "occupation": "electrician", "level": 4, "province": "Xinjiang", "city": "Fukang",
            "first_session": "2025-07-24", "days": 10**20})
        assert estimate.status_code == 422, estimate.text
        assert await event_types(database) == []
        assert (await api.get("/budget", headers=HR)).json() == []


async def test_rejected_line_is_paid_once_in_a_new_batch_and_recoveries_return_to_the_fund(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, test_clock=True) as (_, api):
        lines = await started(api, src)
        ids = [x["line_id"] for x in lines]
        training = next(x for x in lines if x["rule"] == "training_subsidy")
        rejected = next(x for x in lines if x["worker_id"] == "w-2")  # 800 yuan, living
        total = sum(x["amount_fen"] for x in lines)  # 2,250 + 1,200 + 800 yuan
        assert total == 425000
        await after_notice(api, await approve(api, "b1", ids))
        assert (await instruct(api, "b1", "pay-1", lines)).status_code == 200
        await confirm(api, "b1", "pay-1", failed=[rejected["line_id"]])

        line = (await api.get(f"/ledger/{rejected['line_id']}", headers=HR)).json()
        assert (line["status"], line["batch_id"], line["fund"]) == ("due", None, FUND)
        assert await budget(api) == {
            "fund": FUND, "allocated_fen": 1_000_000, "committed_fen": 80000,
            "paid_fen": 345000, "recovered_fen": 0, "available_fen": 575000}
        # the old batch cannot pay it again
        again = await instruct(api, "b1", "pay-1b", lines)
        assert (again.status_code, again.json()["code"]) == (409, "nothing_to_pay")
        # a new batch does, once
        await after_notice(api, await approve(api, "b2", [rejected["line_id"]]))
        repaid = await instruct(api, "b2", "pay-2", lines)
        assert repaid.status_code == 200, repaid.text
        assert repaid.headers["X-File-SHA256"] and b"800.00" in repaid.content
        await confirm(api, "b2", "pay-2")
        statuses = {x["line_id"]: (x["status"], x["batch_id"]) for x in await ledger(api)}
        assert statuses[rejected["line_id"]] == ("paid", "b2")
        assert {s for s, _ in statuses.values()} == {"paid"}
        assert (await budget(api))["paid_fen"] == total
        third = await api.post("/batches", headers=HR, json={
            "batch_id": "b3", "line_ids": [rejected["line_id"]]})
        assert (third.status_code, third.json()["code"]) == (409, "line_not_due")
        for batch in ("b1", "b2"):
            more = await instruct(api, batch, f"pay-{batch}-more", lines)
            assert (more.status_code, more.json()["code"]) == (409, "nothing_to_pay")

        # the certificate is revoked after payment: 2,250 yuan to recover, from its fund
        await src.send("assessment", "cert-w-1", CertificationRevoked(
            certificate_id="cert-w-1", certificate_number="N-w-1", worker_id="w-1",
            occupation_code="electrician", level=4, class_id="fk", reason="forged",
            revoked_on=date(2025, 9, 1)))

        async def reversal() -> list[dict]:
            return [x for x in await ledger(api) if x["kind"] == "reversal"]
        [reversed_] = await eventually(reversal)
        assert reversed_["corrects_line_id"] == training["line_id"]
        assert (reversed_["status"], reversed_["fund"], reversed_["payable_fen"]) == (
            "recovery_due", FUND, -225000)
        before = await budget(api)
        too_much = await api.post("/recoveries", headers=HR, json={
            "recovery_id": "r1", "line_id": reversed_["line_id"], "amount_fen": 225001})
        assert (too_much.status_code, too_much.json()["code"]) == (409, "recovery_above_due")
        recovered = await api.post("/recoveries", headers=HR, json={
            "recovery_id": "r1", "line_id": reversed_["line_id"], "amount_fen": 225000})
        assert recovered.status_code == 201, recovered.text
        assert recovered.json()["fund"] == FUND
        reused = await api.post("/recoveries", headers=HR, json={
            "recovery_id": "r1", "line_id": reversed_["line_id"], "amount_fen": 1})
        assert (reused.status_code, reused.json()["code"]) == (409, "recovery_exists")
        after = await budget(api)
        assert after["recovered_fen"] == 225000
        assert after["available_fen"] == before["available_fen"] + 225000
        assert after == {"fund": FUND, "allocated_fen": 1_000_000, "committed_fen": 0,
                         "paid_fen": total, "recovered_fen": 225000,
                         "available_fen": 1_000_000 - total + 225000}
        line = (await api.get(f"/ledger/{reversed_['line_id']}", headers=HR)).json()
        assert (line["status"], line["payable_fen"]) == ("recovered", 0)

    # the auditor's replay: the same lines, and the same budget as GET /budget
    history = await records_from_topics(kafka_bootstrap, topic_prefix, idle_ms=1500,
                                        public_keys=public_keys_in_tests())
    report = await replay(database, history)
    assert report.ok, report.differences
    [fund] = report.funds
    assert (fund.fund, fund.allocated_fen, fund.committed_fen, fund.paid_fen,
            fund.recovered_fen, fund.available_fen) == tuple(after.values())
    assert "recovered 2250.00" in report.summary()
