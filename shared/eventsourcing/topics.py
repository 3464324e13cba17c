"""Topic names and their creation on the broker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = structlog.get_logger(__name__)

SERVICES = ("enrolment", "training", "assessment", "funding", "notifications", "employment")


def events_topic(service: str, prefix: str = "songji") -> str:
    return f"{prefix}.{service}.events"


def heads_topic(service: str, prefix: str = "songji") -> str:
    """Where ``service`` publishes its store's sealed heads (``shared.eventsourcing.heads``)."""
    return f"{prefix}.{service}.heads"


def owner_of_topic(topic: str, prefix: str = "songji") -> str | None:
    """The service that publishes ``topic`` (None: not a services' events topic)."""
    for service in SERVICES:
        if topic == events_topic(service, prefix):
            return service
    return None


def dead_letter_topic(prefix: str = "songji") -> str:
    return f"{prefix}.dead-letter"


def all_topics(prefix: str = "songji") -> list[str]:
    return ([events_topic(s, prefix) for s in SERVICES] + [heads_topic(s, prefix) for s in SERVICES]
            + [dead_letter_topic(prefix)])


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int = 3, *,
                        client_options: Mapping[str, Any] | None = None) -> None:
    """Create the topics that do not exist yet (a memory-only broker starts with none).
    ``client_options``: how to log in (``KafkaAccess.client_options``)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **dict(client_options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t not in existing]
        if not wanted:
            return
        try:
            await admin.create_topics(
                [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in wanted]
            )
        except TopicAlreadyExistsError:
            pass  # another process created them first
        log.info("topics created", topics=wanted, partitions=partitions)
    finally:
        await admin.close()
