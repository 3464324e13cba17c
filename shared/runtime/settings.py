"""Settings of one service process, from the environment (pydantic-settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Every service reads these; a service adds its own fields in a subclass."""

    # Errors name the setting, never its value: the values read include the services' keys,
    # and pydantic otherwise shows every one of them when any setting is refused or missing.
    model_config = SettingsConfigDict(env_prefix="SONGJI_", extra="ignore", populate_by_name=True,
                                      hide_input_in_errors=True)

    database_url: str = Field(
        validation_alias=AliasChoices("SONGJI_DATABASE_URL", "DATABASE_URL"),
        description="DSN of this service's own PostgreSQL database",
    )
    kafka_bootstrap_servers: str = Field(
        validation_alias=AliasChoices("SONGJI_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port] of the Kafka-protocol cluster",
    )
    topic_prefix: str = "songji"
    topic_partitions: int = Field(3, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    relay_poll_interval: float = Field(1.0, gt=0)
    relay_probe_interval: float = Field(5.0, gt=0)
    # The largest record the relay sends (the producer's max_request_size): an event larger
    # than this is quarantined. Raise it with the broker's message.max.bytes (and the topic's
    # max.message.bytes), then re-drive what was quarantined.
    relay_max_message_bytes: int = Field(1_048_576, ge=1024, le=100 * 1_048_576)
    consumer_attempts: int = Field(3, ge=1)
    # How long a fetch may wait for data. The embedded broker answers a waiting fetch only when
    # this runs out, not when a record arrives, so it bounds the consume latency (measured:
    # 500 ms -> ~255 ms per hop, 20 ms -> ~14 ms). Apache Kafka answers as soon as data
    # arrives; there a larger value only saves idle fetch requests.
    consumer_fetch_max_wait_ms: int = Field(20, ge=1, le=5000)
    consumer_backoff_seconds: float = Field(0.1, ge=0)
    # The longest wait between two tries while the database is away (the waits double from
    # consumer_backoff_seconds up to this): how late a consumer may notice that it is back.
    consumer_outage_max_wait_seconds: float = Field(5.0, gt=0, le=300)
