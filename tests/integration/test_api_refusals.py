"""Input the API fuzzing found the services failing on (500) instead of refusing (422)."""

from __future__ import annotations

import asyncpg
import pytest

from services.funding.app import SPEC as FUNDING
from tests.orgs import auth
from tests.support import running_service

pytestmark = pytest.mark.integration


async def test_grant_estimate_refuses_a_site_no_work_site_could_have(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    query = {"occupation": "electrician", "level": 4, "province": "新疆", "city": "阜康市",
             "first_session": "2025-07-26", "days": 10}
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, funding):
        for field, value in (("province", ""), ("city", "市" * 41)):
            answer = await funding.get("/grants/estimate", headers=auth("hr"),
                                       params={**query, field: value})
            assert answer.status_code == 422
            assert [e["loc"] for e in answer.json()["detail"]] == [["query", field]]


async def test_text_with_a_nul_character_is_refused_and_nothing_is_stored(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # PostgreSQL's jsonb cannot hold U+0000: the append used to fail with a 500
    allocation = {"allocation_id": "alloc-1", "fund": "municipal\u0000", "amount_fen": 100}
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, funding):
        answer = await funding.post("/budget/allocations", json=allocation, headers=auth("hr"))
        assert answer.status_code == 422
        assert [e["loc"] for e in answer.json()["detail"]] == [["body", "fund"]]
        for path in ("/ledger/line%00", "/ledger?class_id=c%00"):
            answer = await funding.get(path, headers=auth("hr"))
            assert answer.status_code == 422, path
        conn = await asyncpg.connect(database)
        try:
            assert await conn.fetchval("SELECT count(*) FROM events") == 0
        finally:
            await conn.close()
