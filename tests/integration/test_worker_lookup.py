"""Finding a worker by ID number: an exact match through the keyed index, told only to an
organisation that may read the worker's record; the number is never echoed back."""

from __future__ import annotations

import pytest

from services.enrolment.app import SPEC as ENROLMENT
from tests.integration.test_skeleton_services import national_id, register
from tests.orgs import auth
from tests.support import running_service

pytestmark = pytest.mark.integration


async def test_lookup_finds_the_stations_own_worker_and_no_one_elses(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, enrol):
        worker_id = await register(enrol, 21)

        async def lookup(org: str, number: str) -> tuple[int, dict]:
            response = await enrol.post("/workers/lookup", json={"national_id": number},
                                        headers=auth(org))
            assert number not in response.text
            return response.status_code, response.json()

        assert await lookup("station-fukang", national_id(21)) == (200, {"worker_id": worker_id})
        assert await lookup("hr", national_id(21)) == (200, {"worker_id": worker_id})
        # another station, and a number nobody registered: the same answer
        elsewhere = await lookup("station-putuo", national_id(21))
        unknown = await lookup("station-fukang", national_id(22))
        assert elsewhere[0] == unknown[0] == 404
        assert elsewhere[1]["code"] == unknown[1]["code"] == "worker_unknown"
        wrong = national_id(21)[:17] + ("0" if national_id(21)[17] != "0" else "1")
        status, body = await lookup("station-fukang", wrong)
        assert status == 422 and body["detail"][0]["loc"] == ["body", "national_id"]
