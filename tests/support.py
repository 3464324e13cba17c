"""Helpers for the integration and end-to-end tests: read topics, run services in-process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from cryptography.fernet import Fernet
from fastapi import FastAPI

from shared.contracts import Envelope
from shared.eventsourcing.authenticity import sign
from shared.eventsourcing.signing import PublicKeys, SigningKey, new_key_pair
from shared.eventsourcing.topics import SERVICES
from shared.runtime.service import ServiceSpec, create_app

T = TypeVar("T")

TEST_SECRETS = {"personal_data_key": Fernet.generate_key().decode(),
                "lookup_key": Fernet.generate_key().decode()}

# One key pair per service for the whole test run, as ``songji up`` makes them.
TEST_PRIVATE_KEYS = {service: new_key_pair()[0] for service in SERVICES}
TEST_PUBLIC_KEYS = PublicKeys.setting({s: SigningKey(k).public_text()
                                       for s, k in TEST_PRIVATE_KEYS.items()})


def signing_settings(service: str) -> dict[str, str]:
    """A service's own private key and everyone's public keys, as settings."""
    return {"signing_key": TEST_PRIVATE_KEYS[service], "public_keys": TEST_PUBLIC_KEYS}


def public_keys_in_tests() -> PublicKeys:
    return PublicKeys.from_setting(TEST_PUBLIC_KEYS)


def signed(envelope: Envelope, *, key: str | None = None
           ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """``envelope``'s body and headers, signed as its source service's relay signs them (or
    with ``key``, a private key text)."""
    service = envelope.source.removeprefix("/songji/")
    value = envelope.kafka_value()
    signer = SigningKey(key or TEST_PRIVATE_KEYS[service])
    return value, sign(envelope.kafka_headers(), value, signer)


def signed_headers(service: str, headers: list[tuple[str, bytes]], value: bytes
                   ) -> list[tuple[str, bytes]]:
    """Raw ``headers`` of a message of ``service``'s with its signature added."""
    return sign(list(headers), value, SigningKey(TEST_PRIVATE_KEYS[service]))


async def read_topic(bootstrap: str, topic: str, *, at_least: int,
                     seconds: float = 20.0) -> list[ConsumerRecord]:
    """Every record on ``topic`` from the first offset, once at least ``at_least`` arrived."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + seconds
    try:
        while len(records) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for partition_records in batch.values():
                records.extend(partition_records)
        # anything still in flight right behind
        for partition_records in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


def header(record: ConsumerRecord, name: str) -> str | None:
    value = dict(record.headers or ()).get(name)
    return value.decode() if value is not None else None


async def produce(bootstrap: str, topic: str, value: bytes, *, key: bytes | None = None,
                  headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers or [])
    finally:
        await producer.stop()


async def eventually(check: Callable[[], Awaitable[T]], *, seconds: float = 20.0,
                     interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s (last value {value!r})")
        await asyncio.sleep(interval)


def service_app(spec: ServiceSpec, *, database_url: str, bootstrap: str, topic_prefix: str,
                **settings: Any) -> FastAPI:
    """The service's real app with test settings; its lifespan not started yet."""
    extra = {**(TEST_SECRETS if spec.name == "enrolment" else {}),
             **signing_settings(spec.name)}
    config = spec.settings_class(database_url=database_url, kafka_bootstrap_servers=bootstrap,
                                 topic_prefix=topic_prefix, relay_poll_interval=0.2,
                                 relay_probe_interval=0.5, consumer_backoff_seconds=0.01,
                                 **{**extra, **settings})
    return create_app(spec, config)


@contextlib.asynccontextmanager
async def running_service(spec: ServiceSpec, *, database_url: str, bootstrap: str,
                          topic_prefix: str, **settings: Any
                          ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The service's real app (its whole lifespan) in this process, with an HTTP client."""
    app = service_app(spec, database_url=database_url, bootstrap=bootstrap,
                      topic_prefix=topic_prefix, **settings)
    async with app.router.lifespan_context(app):
        # Its consumers join their groups after it starts answering: the tests expect them.
        await eventually(lambda: _consuming(app), seconds=60, interval=0.05)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


async def _consuming(app: FastAPI) -> bool:
    return bool(app.state.consuming)


async def fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Rows of one query on a connection of its own (what a test reads back from a store)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def songji(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the ``songji`` command as an operator would; its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "songji"), *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()
