"""Input the API fuzzing found the services failing on (500) instead of refusing (422)."""

from __future__ import annotations

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
