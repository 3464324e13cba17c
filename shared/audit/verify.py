"""Verify the hash chain of every service's event store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.eventsourcing.db import create_pool
from shared.eventsourcing.store import EventStore, Verification


@dataclass(frozen=True)
class StoreVerdict:
    service: str
    verification: Verification


async def verify_stores(dsns: Mapping[str, str]) -> list[StoreVerdict]:
    verdicts = []
    for service, dsn in dsns.items():
        pool = await create_pool(dsn, max_size=1)
        try:
            verdicts.append(StoreVerdict(service, await EventStore(pool).verify()))
        finally:
            await pool.close()
    return verdicts
