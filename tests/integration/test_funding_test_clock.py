"""Funding's test clock: off by default; when on, only the HR bureau moves 'today' forward."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.funding.app import SPEC as FUNDING
from shared.calendar import programme_today
from tests.orgs import auth
from tests.support import running_service

pytestmark = pytest.mark.integration


async def test_off_by_default(database: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        refused = await api.post("/test-clock", json={"days": 8}, headers=auth("hr"))
        assert (refused.status_code, refused.json()["code"]) == (404, "test_clock_disabled")
        clock = (await api.get("/test-clock", headers=auth("hr"))).json()
        assert clock["enabled"] is False and clock["days_ahead"] == 0


async def test_hr_moves_today_forward(database: str, kafka_bootstrap: str,
                                      topic_prefix: str) -> None:
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, test_clock=True) as (_, api):
        denied = await api.post("/test-clock", json={"days": 8}, headers=auth("org-inst-1"))
        assert (denied.status_code, denied.json()["code"]) == (403, "wrong_role")
        assert (await api.post("/test-clock", json={"days": 0},
                               headers=auth("hr"))).status_code == 422
        before = programme_today()
        moved = await api.post("/test-clock", json={"days": 8}, headers=auth("hr"))
        assert moved.status_code == 200, moved.text
        assert moved.json()["days_ahead"] == 8
        assert date.fromisoformat(moved.json()["today"]) - before in (timedelta(days=8),
                                                                      timedelta(days=9))
