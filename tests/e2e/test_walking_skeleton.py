"""End to end: the six services as separate processes, the real broker between them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.auth.tokens import ENV_INLINE
from shared.eventsourcing.topics import SERVICES
from shared.infra.dev_organisations import dev_tokens
from shared.infra.ports import free_port_block
from songji.launcher import Launcher
from tests.integration.test_skeleton_services import national_id, registration
from tests.orgs import auth
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_post_worker_reaches_notifications_through_the_broker(
    postgres_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=topic_prefix)
    try:
        services = await launcher.start()
        assert set(services) == {"enrolment", "training", "assessment", "funding",
                                 "notifications", "employment"}
        async with httpx.AsyncClient(timeout=5) as client:
            for svc in services.values():
                ready = (await client.get(f"{svc.url}/ready")).json()
                assert ready["checks"] == {"database": True, "migrations": True, "broker": True,
                                           "consuming": True}
            enrolment, notifications = services["enrolment"].url, services["notifications"].url
            started = time.monotonic()
            body = {**registration(77), "name": "李四", "mobile": "13912345678"}
            response = await client.post(f"{enrolment}/workers", json=body,
                                         headers=auth("station-fukang"))
            assert response.status_code == 201, response.text
            worker_id = response.json()["worker_id"]

            async def arrived() -> bool:
                return (await client.get(f"{notifications}/workers/{worker_id}",
                                         headers=auth("hr"))).status_code == 200
            await eventually(arrived, seconds=10)
            assert time.monotonic() - started < 10
        logs = "".join(p.log_file.read_text() for p in services.values())
        assert national_id(77) not in logs and "李四" not in logs and "13912345678" not in logs
    finally:
        launcher.stop()


async def test_services_started_are_killed_when_the_start_fails(
    postgres_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """They run in sessions of their own: if waiting for them fails (or is interrupted), the
    launcher must stop them, or they outlive everything that knows of them."""
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=f"{topic_prefix}_failed")
    with pytest.raises(TimeoutError, match="not ready after"):
        await launcher.start(["enrolment", "training"], ready_seconds=0.01)
    assert launcher.processes == {}
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs == ["enrolment.log", "training.log"]
    assert _processes_with(f"{topic_prefix}_failed".encode()) == []


def _processes_with(marker: bytes) -> list[int]:
    """The processes whose environment holds ``marker``."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to read
            if marker in environ.read_bytes():
                found.append(int(environ.parent.name))
    return found


def test_songji_up_starts_everything_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    base_port = free_port_block(len(SERVICES) + 1)
    console_port = base_port + len(SERVICES)
    # no organisations configured: `songji up` makes local ones and writes their tokens
    env = {k: v for k, v in os.environ.items() if k != ENV_INLINE}
    env["SONGJI_STATE_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "songji"), "up", "--base-port", str(base_port),
         "--console-port", str(console_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(output)
        assert "Press Ctrl-C" in text, text
        # the console's URL comes first, before the services'
        console_url = f"http://127.0.0.1:{console_port}"
        assert f"The department console: {console_url}" in text, text
        assert text.index(console_url) < text.index("Songji is up"), text
        assert httpx.get(f"{console_url}/signin", timeout=5).status_code == 200
        for offset, name in enumerate(["enrolment", "training", "assessment", "funding",
                                       "notifications", "employment"]):
            assert f"http://127.0.0.1:{base_port + offset}" in text
            assert name in text
            health = httpx.get(f"http://127.0.0.1:{base_port + offset}/health", timeout=5)
            # one copy of each: it runs its relay
            assert health.json() == {"status": "ok", "service": name, "relay": "active"}
        tokens = dev_tokens(tmp_path)
        assert set(tokens) >= {"hr-bureau", "station-fukang", "auditor"}
        assert tokens["station-fukang"] not in (tmp_path / "organisations.json").read_text()
        registered = httpx.post(f"http://127.0.0.1:{base_port}/workers", json=registration(78),
                                headers={"Authorization": f"Bearer {tokens['station-fukang']}"},
                                timeout=10)
        assert registered.status_code == 201, registered.text
        refused = httpx.post(f"http://127.0.0.1:{base_port}/workers", json=registration(79),
                             headers={"Authorization": f"Bearer {tokens['media']}"}, timeout=10)
        assert refused.status_code == 403
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == 0, rest
        assert "stopped cleanly" in rest
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{base_port}/health", timeout=2)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{console_url}/health", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
