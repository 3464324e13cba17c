"""Every list comes a page at a time (shared/runtime/paging.py): ``limit`` above the maximum
is a 422, a page links to the next, and paging while items are added returns every item that
was there exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.funding.app import SPEC as FUNDING
from services.notifications.app import SPEC as NOTIFICATIONS
from shared.runtime.paging import MAX_PAGE_SIZE, every_page, next_link
from tests.orgs import auth
from tests.support import running_service

pytestmark = pytest.mark.integration

HR = auth("hr")
POLICY = {
    "policy_id": "paged", "effective_from": "2025-01-01",
    "training_subsidies": [{"occupation_code": "electrician", "level": 4,
                            "amount_fen": 150000}],
    "living_subsidy": {"meals_fen_per_day": 6000, "transport_fen_per_day": 2000},
    "attendance_threshold_percent": 80,
}


async def test_lists_are_paged_with_a_maximum_and_every_item_comes_once(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        api.headers.update(HR)
        for i in range(7):
            allocated = await api.post("/budget/allocations", json={
                "allocation_id": f"a{i}", "fund": f"fund-{i}", "amount_fen": 100})
            assert allocated.status_code == 201
        for _ in range(5):
            assert (await api.post("/policies", json=POLICY)).status_code == 202

        too_many = await api.get("/budget", params={"limit": MAX_PAGE_SIZE + 1})
        assert too_many.status_code == 422
        assert too_many.json()["detail"][0]["loc"] == ["query", "limit"]
        forged = await api.get("/budget", params={"after": "not-a-cursor"})
        assert forged.status_code == 422

        first = await api.get("/budget", params={"limit": 2})
        assert [f["fund"] for f in first.json()] == ["fund-0", "fund-1"]
        link = next_link(first)
        assert link is not None and link.startswith("/budget?")
        # an item added while paging, before the cursor: not seen again, nothing repeated
        await api.post("/budget/allocations", json={
            "allocation_id": "late", "fund": "fund-00", "amount_fen": 100})
        funds = [f["fund"] for f in await every_page(first, api.get)]
        assert funds == [f"fund-{i}" for i in range(7)]

        whole = await api.get("/budget")
        assert next_link(whole) is None and len(whole.json()) == 8

        pages, response = 0, await api.get("/policies", params={"limit": 2})
        versions = [p["version"] for p in response.json()]
        while (link := next_link(response)) is not None:
            pages += 1
            response = await api.get(link)
            versions += [p["version"] for p in response.json()]
        assert (pages, versions) == (2, [1, 2, 3, 4, 5])


async def test_a_keyset_page_over_a_table_breaks_ties_and_repeats_nothing(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Notifications' known workers, ordered by (registered_at, worker_id): the cursor is a
    timestamp and an id, and workers registered at the same instant are neither skipped nor
    repeated across a page boundary."""
    async with running_service(NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        conn = await asyncpg.connect(database)
        try:
            same = datetime(2025, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
            for i, at in enumerate([same, same, same, same + timedelta(seconds=1), same]):
                await conn.execute(
                    "INSERT INTO known_workers (worker_id, gender, birth_year, registered_at, "
                    "event_id) VALUES ($1, 'female', 1990, $2, $3)", f"w-{i}", at, uuid.uuid4())
        finally:
            await conn.close()
        first = await api.get("/workers", params={"limit": 2}, headers=HR)
        assert first.status_code == 200 and len(first.json()) == 2
        workers = [w["worker_id"] for w in await every_page(
            first, lambda link: api.get(link, headers=HR))]
        assert workers == ["w-0", "w-1", "w-2", "w-4", "w-3"]
