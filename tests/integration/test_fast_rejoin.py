"""Fast rejoin and fast restart: a killed copy's partitions move to a live one within 5 s,
and a service answers HTTP at once, ``/ready`` false until its consumers run."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.training.app import SPEC as TRAINING
from shared.eventsourcing.topics import ensure_topics
from shared.infra.kafka import EmbeddedKafka
from shared.infra.ports import free_port
from shared.runtime.settings import ServiceSettings
from tests.support import eventually, service_app

pytestmark = pytest.mark.integration

MOVE_LIMIT_SECONDS = 5.0


def group_options() -> dict[str, int]:
    """The group settings every service's consumers use (their defaults)."""
    fields = ServiceSettings.model_fields
    return {"session_timeout_ms": fields["consumer_session_timeout_ms"].default,
            "heartbeat_interval_ms": fields["consumer_heartbeat_interval_ms"].default}


async def test_a_killed_members_partitions_move_to_the_live_one_within_5_s(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic, group = f"{topic_prefix}.rejoin", f"{topic_prefix}.group"
    await ensure_topics(kafka_bootstrap, [topic], 3)
    member = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.group_member", kafka_bootstrap, topic, group,
        stdout=asyncio.subprocess.PIPE)
    live = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                            auto_offset_reset="earliest", **group_options())
    try:
        assert member.stdout is not None
        assert (await asyncio.wait_for(member.stdout.readline(), 60)).strip() == b"assigned"
        await live.start()

        async def sharing() -> bool:  # both members hold some of the three partitions
            await live.getmany(timeout_ms=50)
            return 0 < len(live.assignment()) < 3
        await eventually(sharing, seconds=60, interval=0)

        member.kill()  # kill -9: it never leaves the group
        killed_at = time.monotonic()

        async def all_mine() -> bool:
            await live.getmany(timeout_ms=50)
            return len(live.assignment()) == 3
        await eventually(all_mine, seconds=30, interval=0)
        moved = time.monotonic() - killed_at
        print(f"partitions moved {moved:.2f} s after kill -9")
        assert moved < MOVE_LIMIT_SECONDS
    finally:
        with contextlib.suppress(ProcessLookupError):
            member.kill()
        await member.wait()
        await live.stop()


async def test_a_service_answers_health_at_once_and_is_ready_once_it_consumes(
    database: str, topic_prefix: str
) -> None:
    port = free_port()  # no broker there yet: its consumers cannot start
    app = service_app(TRAINING, database_url=database, bootstrap=f"127.0.0.1:{port}",
                      topic_prefix=topic_prefix)
    started = time.monotonic()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            health = await client.get("/health")
            answered = time.monotonic() - started
            print(f"/health answered {answered:.2f} s after the start")
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            assert answered < 5.0  # migrations of a new database included
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["consuming"] is False
            assert ready.json()["checks"]["database"] is True

            with EmbeddedKafka(port=port):  # the broker comes: the consumers join

                async def is_ready() -> bool:
                    return (await client.get("/ready")).status_code == 200
                await eventually(is_ready, seconds=60, interval=0.2)
                assert app.state.consuming
