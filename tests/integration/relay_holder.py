"""A relay under leadership in a process of its own, for the tests that kill or freeze it:
``python -m tests.integration.relay_holder DSN BOOTSTRAP TOPIC``. It runs until killed."""

from __future__ import annotations

import asyncio
import sys

from shared.eventsourcing.db import create_pool
from shared.eventsourcing.leadership import Leadership
from shared.eventsourcing.relay import Relay
from shared.eventsourcing.signing import SigningKey
from shared.eventsourcing.store import EventStore
from tests.support import TEST_PRIVATE_KEYS


async def main(dsn: str, bootstrap: str, topic: str) -> None:
    pool = await create_pool(dsn)
    leadership = Leadership(dsn, "enrolment.relay", lease_seconds=2.0, retry_seconds=0.5)
    relay = Relay(EventStore(pool), service="enrolment",
                  signer=SigningKey(TEST_PRIVATE_KEYS["enrolment"]), bootstrap_servers=bootstrap,
                  topic=topic, batch_size=20, poll_interval=0.2, fence=leadership.fence)

    async def lead() -> None:
        relay.resume()
        await relay.run()

    await leadership.run(lead)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
