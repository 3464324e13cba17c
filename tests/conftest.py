"""Fixtures: the real PostgreSQL and Kafka-protocol broker, started once per test session.

Each test gets its own database and its own topic prefix, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from shared.auth.tokens import ENV_INLINE
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.store import EventStore
from shared.infra.postgres import create_database
from shared.infra.provision import kafka_broker, postgres_server
from shared.runtime.logging import configure_logging
from tests.orgs import organisations_json

configure_logging("INFO", "console")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def new_database(postgres_url: str) -> Callable[[], Awaitable[str]]:
    """Make new, empty databases; each call returns a DSN."""

    async def make() -> str:
        return await create_database(postgres_url, f"t_{uuid.uuid4().hex[:12]}")

    return make


@pytest.fixture
async def database(new_database: Callable[[], Awaitable[str]]) -> str:
    return await new_database()


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, max_size=20)
    async with pool.acquire() as conn:
        await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
    yield pool
    await pool.close()


@pytest.fixture
def store(pool: asyncpg.Pool) -> EventStore:
    return EventStore(pool)


@pytest.fixture(autouse=True)
def organisations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service under test (in-process or spawned) knows the test organisations."""
    monkeypatch.setenv(ENV_INLINE, organisations_json())


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"
