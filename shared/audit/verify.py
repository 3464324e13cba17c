"""Verify the hash chain of every service's event store."""

from __future__ import annotations

from collections.abc import Mapping

from shared.eventsourcing.db import create_pool
from shared.eventsourcing.store import EventStore, Verification


async def verify_stores(dsns: Mapping[str, str]) -> dict[str, Verification]:
    """Each service store's chain, by service; a broken one names its first bad position."""
    results: dict[str, Verification] = {}
    for service, dsn in dsns.items():
        pool = await create_pool(dsn, max_size=1)
        try:
            results[service] = await EventStore(pool).verify()
        finally:
            await pool.close()
    return results
