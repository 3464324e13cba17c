"""Webhook receivers cannot turn the service against its own network or hold it up.

Registration refuses URLs that are not https at a public address; every delivery checks
again before it connects; one attempt is bounded in time and in what it reads; a failing
receiver's retries wait in the delivery table, and a slow receiver delays no other. Every
receiver here listens on 127.0.0.1 (allowed only with ``webhook_allow_local``); the refused
addresses are refused before any connection, so no traffic leaves this machine.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from services.notifications.app import SPEC as NOTIFICATIONS
from shared.auth.tokens import hash_token
from tests.integration.notify_fakes import Fakes, publish, serve_fakes
from tests.integration.raw_receiver import RawReceiver, certificate_for, raw_receiver
from tests.integration.test_notifications import registered, rows
from tests.support import eventually, running_service

pytestmark = pytest.mark.integration

HR_TOKEN = "hr-token-0123456789"
HR = {"Authorization": f"Bearer {HR_TOKEN}"}
REGISTERED = "songji.enrolment.WorkerRegistered.v1"
KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def hr_bureau(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SONGJI_ORGANISATIONS", json.dumps([
        {"org_id": "hr-luquan", "role": "hr_bureau", "token_sha256": hash_token(HR_TOKEN)}]))


@asynccontextmanager
async def notifications(database: str, kafka_bootstrap: str, topic_prefix: str,
                        tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with running_service(
        NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, local_channel_path=tmp_path / "m.jsonl",
        webhook_secret_key=KEY, sender_poll_seconds=0.1, **settings,
    ) as (_, api):
        yield api


async def register(api: httpx.AsyncClient, url: str) -> httpx.Response:
    return await api.post("/webhooks", headers=HR, json={"url": url,
                                                         "event_types": [REGISTERED]})


async def deliveries(api: httpx.AsyncClient, webhook_id: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/webhooks/{webhook_id}/deliveries", headers=HR)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def soon(condition: Callable[[], object], *, interval: float = 0.05) -> None:
    async def check() -> object:
        return condition()
    await eventually(check, interval=interval)


def seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


async def test_registration_refuses_receivers_inside_the_network_and_stores_nothing(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    refused = {
        "http://169.254.169.254/latest": "https_required",
        "https://169.254.169.254/latest/meta-data/": "link_local",
        "http://10.0.0.1/": "https_required",
        "https://10.0.0.1/": "private",
        "https://192.168.1.20:8443/hook": "private",
        "http://[::1]/": "https_required",
        "https://[::1]/": "loopback",
        "https://127.0.0.1:5432/": "loopback",
        "https://localhost/hook": "loopback",  # a name that resolves to loopback
        "https://[::ffff:169.254.169.254]/": "link_local",  # IPv4-mapped
        "https://[::ffff:127.0.0.1]/": "loopback",
        "https://[fe80::1]/": "link_local",
        "https://0.0.0.0/": "unspecified",
        "https://224.0.0.1/": "multicast",
        "https://100.64.0.1/": "not_global",
    }
    async with notifications(database, kafka_bootstrap, topic_prefix, tmp_path) as api:
        for url, reason in refused.items():
            answer = await register(api, url)
            assert answer.status_code == 422, (url, answer.text)
            assert answer.json()["code"] == "webhook_receiver_refused", url
            assert answer.json()["reason"] == reason, (url, answer.json())
        assert (await api.get("/webhooks", headers=HR)).json() == []

    # Local mode lets a receiver on this machine in, over http; nothing else is let in.
    async with notifications(database, kafka_bootstrap, topic_prefix, tmp_path,
                             webhook_allow_local=True) as api:
        for url, reason in {"http://169.254.169.254/latest": "link_local",
                            "http://10.0.0.1/": "private",
                            "http://[::ffff:10.0.0.1]/": "private"}.items():
            answer = await register(api, url)
            assert answer.status_code == 422 and answer.json()["reason"] == reason, url
        for url in ("http://[::1]:9/hook", "http://localhost:9/hook"):
            assert (await register(api, url)).status_code == 201, url
    assert len(await rows(database, "SELECT * FROM webhooks")) == 2


async def test_every_send_checks_the_receiver_again_before_connecting(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    with raw_receiver(RawReceiver()) as receiver:
        plain, tls = receiver.url, receiver.url.replace("http://", "https://")
        async with notifications(database, kafka_bootstrap, topic_prefix, tmp_path,
                                 webhook_allow_local=True) as api:
            hooks = {url: (await register(api, url)).json()["webhook_id"] for url in (plain, tls)}

        # The same service without local mode: the webhooks stay registered, and a send to
        # either is refused before a connection is opened.
        async with notifications(database, kafka_bootstrap, topic_prefix, tmp_path) as api:
            await publish(kafka_bootstrap, topic_prefix, registered("w-1", "male"), "w-1")

            async def failed(webhook_id: str) -> list[dict[str, Any]]:
                log = await deliveries(api, webhook_id)
                return log if log and log[0]["state"] == "failed" else []
            [plain_log] = await eventually(lambda: failed(hooks[plain]))
            [tls_log] = await eventually(lambda: failed(hooks[tls]))
        assert [(a["outcome"], a["error_code"]) for a in plain_log["attempt_log"]] == [
            ("permanent_error", "receiver_refused:https_required")]
        # https passes the scheme rule; the address check in the connection step refuses it
        assert [(a["outcome"], a["error_code"]) for a in tls_log["attempt_log"]] == [
            ("permanent_error", "receiver_refused:loopback")]
        assert receiver.connections == []


async def test_the_checked_connection_still_verifies_the_certificate_for_the_name(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection goes to the checked address, yet TLS (SNI, the certificate) and the Host
    header are for the URL's name, as with any client."""
    context, certificate = certificate_for("localhost", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # the receiver's, trusted here
    with raw_receiver(RawReceiver(tls=context)) as receiver:
        by_name = f"https://localhost:{receiver.port}/hook"
        by_address = f"https://127.0.0.1:{receiver.port}/hook"  # not in the certificate
        async with notifications(database, kafka_bootstrap, topic_prefix, tmp_path,
                                 webhook_allow_local=True, delivery_attempts=1) as api:
            hooks = {url: (await register(api, url)).json()["webhook_id"]
                     for url in (by_name, by_address)}
            await publish(kafka_bootstrap, topic_prefix, registered("w-1", "male"), "w-1")

            async def finished(webhook_id: str) -> list[dict[str, Any]]:
                log = await deliveries(api, webhook_id)
                return log if log and log[0]["state"] in ("delivered", "failed") else []
            [named] = await eventually(lambda: finished(hooks[by_name]))
            [addressed] = await eventually(lambda: finished(hooks[by_address]))
    assert named["state"] == "delivered" and named["last_status"] == 204
    assert "localhost" in receiver.server_names
    [request] = [c.request for c in receiver.connections if c.request]
    assert f"host: localhost:{receiver.port}\r\n".encode() in request.lower()
    assert addressed["state"] == "failed"
    assert [a["error_code"] for a in addressed["attempt_log"]] == ["unreachable:ConnectError"]


async def test_a_trickling_receiver_is_cut_at_the_deadline_and_delays_no_other(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    deadline = 3.0
    fakes = Fakes()
    slow = RawReceiver("trickle", trickle_seconds=1.0, trickle_limit_seconds=20.0)
    with raw_receiver(slow):
        async with serve_fakes(fakes) as base, notifications(
            database, kafka_bootstrap, topic_prefix, tmp_path, webhook_allow_local=True,
            webhook_deadline_seconds=deadline, delivery_attempts=1,
        ) as api:
            slow_id = (await register(api, slow.url)).json()["webhook_id"]
            fast_id = (await register(api, f"{base}/hook")).json()["webhook_id"]
            await publish(kafka_bootstrap, topic_prefix, registered("w-1", "male"), "w-1")
            await soon(lambda: len(fakes.hooks) == 1)
            await soon(lambda: slow.connections)

            # While the slow receiver is still trickling, the next event reaches the other.
            published = time.monotonic()
            await publish(kafka_bootstrap, topic_prefix, registered("w-2", "female"), "w-2")
            await soon(lambda: len(fakes.hooks) == 2, interval=0.02)
            fast_latency = time.monotonic() - published
            first = slow.connections[0]
            assert first.closed_at is None or first.closed_at > published + fast_latency

            async def both_failed() -> list[dict[str, Any]]:
                log = await deliveries(api, slow_id)
                return log if len(log) == 2 and {d["state"] for d in log} == {"failed"} else []
            slow_log = await eventually(both_failed)
            fast_log = await deliveries(api, fast_id)

        assert fast_latency < deadline, fast_latency
        assert [d["state"] for d in fast_log] == ["delivered", "delivered"]
        for delivery in slow_log:
            [attempt] = delivery["attempt_log"]
            assert attempt["error_code"] == "deadline_exceeded"
            assert seconds(attempt["started_at"], attempt["finished_at"]) < deadline + 1.0
        await soon(lambda: all(c.closed_at for c in slow.connections))
        for connection in slow.connections:  # the receiver saw its client hang up in time
            assert connection.closed_at is not None
            assert connection.closed_at - connection.opened_at < deadline + 1.5
            assert connection.answered_bytes < 40  # the status line and a few trickled bytes


async def test_a_huge_answer_is_not_read(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    huge = RawReceiver("huge", huge_bytes=5 * 1024 * 1024)
    with raw_receiver(huge):
        async with notifications(database, kafka_bootstrap, topic_prefix, tmp_path,
                                 webhook_allow_local=True) as api:
            webhook_id = (await register(api, huge.url)).json()["webhook_id"]

            async def delivered() -> list[dict[str, Any]]:
                log = await deliveries(api, webhook_id)
                return log if log and log[0]["state"] == "delivered" else []
            tracemalloc.start()
            try:
                await publish(kafka_bootstrap, topic_prefix, registered("w-1", "male"), "w-1")
                [delivery] = await eventually(delivered)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert delivery["last_status"] == 200
    # Reading the answer would hold 5 MiB at least (10 MiB, measured); the first 64 KiB are
    # all that is read. The peak is the whole test process's (the service's consumers and
    # everything else that ran meanwhile: 0.4 to 2.1 MiB seen), so the bound sits below the
    # 5 MiB any full read must hold, not just above the 64 KiB.
    assert peak < 4 * 1024 * 1024, peak
    assert huge.connections[0].closed_at is not None


async def test_a_failing_receivers_retries_wait_in_the_table_with_backoff(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    fakes = Fakes(hook_failures=100, hook_status=503)
    async with serve_fakes(fakes) as base, notifications(
        database, kafka_bootstrap, topic_prefix, tmp_path, webhook_allow_local=True,
        delivery_attempts=4, delivery_backoff_seconds=1.0, delivery_backoff_max_seconds=1.5,
    ) as api:
        webhook_id = (await register(api, f"{base}/hook")).json()["webhook_id"]
        await publish(kafka_bootstrap, topic_prefix, registered("w-1", "male"), "w-1")

        async def after_first() -> list[dict[str, Any]]:
            log = await deliveries(api, webhook_id)
            return log if log and log[0]["attempts"] == 1 else []
        [waiting] = await eventually(after_first, interval=0.05)
        # Between attempts nothing holds the delivery: it is pending, with a time to try again.
        assert waiting["state"] == "pending"
        [first] = waiting["attempt_log"]
        assert 0.9 < seconds(first["finished_at"], waiting["next_attempt_at"]) < 1.1
        [row] = await rows(database, "SELECT state, claim_token FROM webhook_deliveries")
        assert row["state"] == "pending" and row["claim_token"] is None

        async def failed() -> list[dict[str, Any]]:
            log = await deliveries(api, webhook_id)
            return log if log and log[0]["state"] == "failed" else []
        [done] = await eventually(failed)
    attempts = done["attempt_log"]
    assert [(a["outcome"], a["status_code"]) for a in attempts] == [
        ("transient_error", 503)] * 4
    assert done["attempts"] == 4 and done["next_attempt_at"] is None
    waits = [seconds(a["finished_at"], b["started_at"]) for a, b in pairwise(attempts)]
    # 1 s, then 2 s and 4 s, both capped at 1.5 s
    assert waits[0] >= 1.0 and waits[1] >= 1.5 and 1.5 <= waits[2] < 3.5, waits
