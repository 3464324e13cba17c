"""A consumer group member in a process of its own, for the tests that kill it:
``python -m tests.integration.group_member BOOTSTRAP TOPIC GROUP``. It reads with the services'
group settings, prints ``assigned`` once it holds partitions, and runs until killed."""

from __future__ import annotations

import asyncio
import sys

from aiokafka import AIOKafkaConsumer

from tests.integration.test_fast_rejoin import group_options


async def main(bootstrap: str, topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", **group_options())
    await consumer.start()
    told = False
    while True:
        await consumer.getmany(timeout_ms=100)
        if consumer.assignment() and not told:
            print("assigned", flush=True)
            told = True


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
