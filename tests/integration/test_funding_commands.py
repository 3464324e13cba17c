"""Funding's commands racing each other through the API, on the real PostgreSQL and broker:
the pipeline decides a command that lost its race again, against the state that won it, so
the caller gets the answer of the rules, never a 409 ``concurrent_update``."""

from __future__ import annotations

import asyncio

import pytest

from services.funding.app import SPEC as FUNDING
from tests.integration.test_funding_money import FUND, started
from tests.integration.test_funding_service import POLICY, Source
from tests.integration.test_idempotency import HR, event_types
from tests.support import running_service

pytestmark = pytest.mark.integration

RACERS = 5


async def test_racing_versions_allocations_and_approvals_each_get_the_rules_answer(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        # versions of one policy series: each published, each its own version
        versions = await asyncio.gather(*(
            api.post("/policies", json=POLICY, headers=HR) for _ in range(RACERS)))
        assert [a.status_code for a in versions] == [202] * RACERS, [a.text for a in versions]
        assert sorted(a.json()["version"] for a in versions) == list(range(1, RACERS + 1))

        # allocations, all on the one budget stream: every one recorded once
        allocations = await asyncio.gather(*(
            api.post("/budget/allocations", headers=HR, json={
                "allocation_id": f"race-{n}", "fund": FUND, "amount_fen": 100})
            for n in range(RACERS)))
        assert [a.status_code for a in allocations] == [201] * RACERS, \
            [a.text for a in allocations]
        [fund] = (await api.get("/budget", headers=HR)).json()
        assert fund["allocated_fen"] == RACERS * 100

        # two batches for the same due lines: one approved, the other refused by the rules
        lines = await started(api, src)
        ids = [x["line_id"] for x in lines]
        approvals = await asyncio.gather(*(
            api.post("/batches", headers=HR, json={"batch_id": batch, "line_ids": ids})
            for batch in ("b1", "b2")))
        assert sorted(a.status_code for a in approvals) == [201, 409], \
            [a.text for a in approvals]
        [refused] = [a for a in approvals if a.status_code == 409]
        assert refused.json()["code"] == "line_not_due"

        types = await event_types(database)
        assert [types.count(t) for t in ("FundingPolicyPublished", "BudgetAllocated",
                                         "DisbursementApproved")] == [RACERS + 1, RACERS + 1, 1]
