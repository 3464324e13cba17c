"""Where the servers come from: external (environment), embedded (default) or containers.

- ``POSTGRES_URL`` (any database on the server; each service gets its own database there) and
  ``KAFKA_BOOTSTRAP_SERVERS`` point at servers that already run.
- Otherwise ``SONGJI_INFRA=containers`` asks testcontainers for Apache Kafka and PostgreSQL
  images (needs a Docker engine), and the default starts the embedded ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from shared.infra.kafka import EmbeddedKafka
from shared.infra.postgres import EmbeddedPostgres


def _use_containers() -> bool:
    return os.environ.get("SONGJI_INFRA", "embedded") == "containers"


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a PostgreSQL server we may create databases on."""
    external = os.environ.get("POSTGRES_URL")
    if external:
        yield external
    elif _use_containers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as container:
            yield container.get_connection_url()
    else:
        with EmbeddedPostgres() as server:
            yield server.url


@contextmanager
def kafka_broker() -> Iterator[str]:
    """Yield the bootstrap servers of a Kafka-protocol broker."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
    elif _use_containers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
    else:
        with EmbeddedKafka() as broker:
            yield broker.bootstrap_servers
