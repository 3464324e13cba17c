"""Two copies of a service on one database, as ``songji up --replicas 2`` runs them: one
relay per store; kill -9 the copy that runs it and the other takes over within 5 s, and what
is written through either copy reaches the readers once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from songji.launcher import Launcher, ServiceProcess
from tests.integration.test_skeleton_services import registration
from tests.orgs import auth
from tests.support import eventually, fetch

pytestmark = pytest.mark.e2e

HR = auth("hr")
TAKEOVER_LIMIT_SECONDS = 5.0


async def relay_roles(client: httpx.AsyncClient, copies: list[ServiceProcess]
                      ) -> list[str | None]:
    """Each copy's relay: "active", "standby", or None when it does not answer."""
    roles: list[str | None] = []
    for svc in copies:
        try:
            roles.append((await client.get(f"{svc.url}/health")).json()["relay"])
        except httpx.HTTPError:
            roles.append(None)
    return roles


async def test_two_copies_one_relay_and_a_takeover_after_kill_9(
    postgres_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=topic_prefix, replicas=2)
    try:
        await launcher.start(["enrolment", "notifications"])
        enrolment = [launcher.processes["enrolment"], *launcher.copies["enrolment"]]
        notifications = [launcher.processes["notifications"], *launcher.copies["notifications"]]
        assert len(enrolment) == len(notifications) == 2
        assert len({svc.port for svc in launcher.everything()}) == 4
        async with httpx.AsyncClient(timeout=5) as client:

            async def one_active() -> list[str | None]:
                roles = await relay_roles(client, enrolment)
                return roles if sorted(map(str, roles)) == ["active", "standby"] else []
            roles = await eventually(one_active, seconds=30)

            async def register(svc: ServiceProcess, n: int) -> str:
                answer = await client.post(f"{svc.url}/workers", json=registration(n),
                                           headers=auth("station-fukang"))
                assert answer.status_code == 201, answer.text
                return answer.json()["worker_id"]

            # Written through either copy: one relay publishes both.
            ids = [await register(enrolment[0], 40), await register(enrolment[1], 41)]

            async def known(worker_ids: list[str]) -> bool:
                for svc in notifications:  # either copy reads the one database
                    for worker_id in worker_ids:
                        got = await client.get(f"{svc.url}/workers/{worker_id}", headers=HR)
                        if got.status_code != 200:
                            return False
                return True
            await eventually(lambda: known(ids), seconds=30)

            holder = enrolment[roles.index("active")]
            other = enrolment[1 - roles.index("active")]
            holder.process.kill()  # kill -9
            killed_at = time.monotonic()

            async def took_over() -> bool:
                return (await relay_roles(client, [other])) == ["active"]
            await eventually(took_over, seconds=20, interval=0.05)
            takeover = time.monotonic() - killed_at
            print(f"relay takeover after kill -9 of its holder: {takeover:.2f} s")
            assert takeover < TAKEOVER_LIMIT_SECONDS

            ids.append(await register(other, 42))
            await eventually(lambda: known(ids), seconds=30)
        applied = await fetch(notifications[0].dsn, "SELECT count(*) AS n FROM inbox")
        assert applied[0]["n"] == 3  # each event applied once, whoever published it
    finally:
        launcher.stop(kill=True)
