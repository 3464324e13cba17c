"""`songji audit replay` from the topics checks them against the stores' events: a record
forged onto a topic, or a published event missing from it, is a difference and fails the
replay, although the ledger derived from the topics may well match funding's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from services.funding.app import SPEC as FUNDING
from shared.contracts import Envelope, Metadata
from shared.contracts.assessment import AssessmentBodyRegistered
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.relay import Relay
from shared.eventsourcing.signing import SigningKey
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import events_topic
from tests.orgs import token
from tests.support import TEST_PRIVATE_KEYS, TEST_PUBLIC_KEYS, produce, signed, songji

pytestmark = pytest.mark.integration

SOURCES = ("enrolment", "training", "assessment")
META = Metadata(correlation_id="audit-topics")


async def _migrated(dsn: str, extra: Path | None = None) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, migration_files(KIT_MIGRATIONS, extra))
    finally:
        await conn.close()


async def _append_and_publish(dsn: str, service: str, bootstrap: str, prefix: str,
                              events: list[tuple[str, object]]) -> None:
    """Append to the store, then publish what is pending as the service's relay does."""
    pool = await create_pool(dsn, max_size=2)
    try:
        store = EventStore(pool)
        for stream, event in events:
            await store.append(stream, await store.stream_version(stream), [event], META)
        relay = Relay(store, service=service, signer=SigningKey(TEST_PRIVATE_KEYS[service]),
                      bootstrap_servers=bootstrap, topic=events_topic(service, prefix))
        try:
            await relay._connect()
            while await relay.publish_pending():
                pass
        finally:
            await relay.close()
    finally:
        await pool.close()


@pytest.fixture
async def world(new_database: Callable[[], Awaitable[str]], kafka_bootstrap: str,
                topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    """Three source stores whose events are on their topics, an empty funding, and the
    auditor's environment for ``songji audit replay``."""
    dsns = {s: await new_database() for s in (*SOURCES, "funding")}
    for service, dsn in dsns.items():
        await _migrated(dsn, FUNDING.migrations if service == "funding" else None)
    await _append_and_publish(dsns["enrolment"], "enrolment", kafka_bootstrap, topic_prefix, [
        (f"worker-{i}", WorkerRegistered(worker_id=f"w{i}", gender="female", birth_year=1990))
        for i in range(4)])
    await _append_and_publish(dsns["assessment"], "assessment", kafka_bootstrap, topic_prefix, [
        ("body-1", AssessmentBodyRegistered(body_id="body-1", name="Fukang testing centre"))])
    env = {f"SONGJI_{s.upper()}_DATABASE_URL": dsn for s, dsn in dsns.items()}
    return {**env, "SONGJI_TOPIC_PREFIX": topic_prefix,
            "SONGJI_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "SONGJI_PUBLIC_KEYS": TEST_PUBLIC_KEYS,
            "SONGJI_TOKEN": token("auditor"), "SONGJI_STATE_DIR": str(tmp_path)}


def _replay(tmp_path: Path) -> list[str]:
    return ["audit", "replay", "--differences", str(tmp_path / "differences.json")]


def _found(tmp_path: Path) -> list[dict[str, object]]:
    return [d for d in json.loads((tmp_path / "differences.json").read_text())
            if d["where"] == "topics_vs_stores"]


async def test_topics_that_match_the_stores_pass(world: dict[str, str], tmp_path: Path
                                                 ) -> None:
    code, out = await songji(*_replay(tmp_path), env=world)
    assert code == 0, out
    assert "5 topic records compared with the stores, 0 not as stored" in out
    assert "MATCHES" in out


async def test_a_record_forged_onto_a_topic_is_a_difference(
        world: dict[str, str], tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Records in the CloudEvents shape the inbox accepts: from another source with no
    position (as in the issue); one that claims the position of a genuine event; and one
    signed with enrolment's own key (a holder of the key, or a relay gone wrong) whose data
    is not the stored event's, which no signature check can tell from a genuine one."""
    topic = events_topic("enrolment", topic_prefix)
    forgeries = [("https://attacker.example", None, "forged-worker-1", False),
                 ("https://attacker.example", 2, "forged-worker-2", False),
                 ("/songji/enrolment", 3, "forged-worker-3", True)]
    for source, position, worker, with_key in forgeries:
        forged = Envelope(
            id=uuid.uuid4(), source=source, type=WorkerRegistered.ce_type(),
            subject="worker-forged", time=datetime.now(UTC), schema_version=1,
            correlation_id="forged", stream_version=1, position=position,
            data=WorkerRegistered(worker_id=worker, gender="male",
                                  birth_year=1980).model_dump(mode="json"))
        value, headers = (signed(forged) if with_key
                          else (forged.kafka_value(), forged.kafka_headers()))
        await produce(kafka_bootstrap, topic, value, key=b"worker-forged", headers=headers)

    code, out = await songji(*_replay(tmp_path), env=world)
    assert code == 1, out
    assert "DIFFERENCES" in out and "MATCHES" not in out
    found = {(d["line_id"], d["field"]) for d in _found(tmp_path)}
    assert ("enrolment@2", "differs_from_store") in found
    assert ("enrolment@3", "differs_from_store") in found
    assert any(line.startswith("enrolment:") and field == "no_position"
               for line, field in found), found
    assert len(found) == 3


async def test_a_published_event_missing_from_its_topic_is_a_difference(
        world: dict[str, str], tmp_path: Path) -> None:
    """The store says its relay published an event (its checkpoint covers it) that the
    topic does not hold: as if it had been deleted from the topic."""
    pool = await create_pool(world["SONGJI_TRAINING_DATABASE_URL"], max_size=1)
    try:
        [stored] = await EventStore(pool).append("worker-9", 0, [WorkerRegistered(
            worker_id="w9", gender="male", birth_year=1979)], META)
        async with pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO relay_checkpoint (topic, position) VALUES ($1, 1)""",
                events_topic("training", world["SONGJI_TOPIC_PREFIX"]))
    finally:
        await pool.close()

    code, out = await songji(*_replay(tmp_path), env=world)
    assert code == 1, out
    assert [(d["line_id"], d["field"], d["derived"]) for d in _found(tmp_path)] == [
        ("training@1", "missing_from_topic", str(stored.event_id))]


async def test_the_stores_must_be_known_unless_the_check_is_declined(
        world: dict[str, str], tmp_path: Path) -> None:
    without = {k: v for k, v in world.items() if k != "SONGJI_TRAINING_DATABASE_URL"}
    code, out = await songji(*_replay(tmp_path), env=without)
    assert code == 2 and "no store known for training" in out, out
    code, out = await songji(*_replay(tmp_path), "--no-check-stores", env=without)
    assert code == 0 and "MATCHES" in out and "compared with the stores" not in out, out
