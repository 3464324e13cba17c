"""Settings of one service process, from the environment (pydantic-settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.eventsourcing.kafka_access import KafkaAccess
from shared.eventsourcing.signing import check_public_keys, check_signing_key
from shared.runtime.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADER_BLOCK_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
)


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
    # How soon a copy that died (kill -9: it never says goodbye) is taken out of its consumer
    # groups and its partitions given to the live copies: the group waits a session without
    # a heartbeat, then rebalances (the others learn of it at their next heartbeat). Measured
    # on the embedded broker (tests/integration/test_fast_rejoin.py): about 3 s with these
    # (4.5-5.3 s with a 2.5-3 s session: it adds up to 2 s of its own). A copy whose event
    # loop is blocked longer than a session is taken out too, and rejoins: nothing is lost
    # (what it had not committed is read again, the inbox drops the repeats). Apache Kafka
    # refuses a session below its group.min.session.timeout.ms (6000 by default: lowered to
    # 2000 on the brokers in deploy/kubernetes/kafka-strimzi.yaml).
    consumer_session_timeout_ms: int = Field(2000, ge=1000, le=300_000)
    consumer_heartbeat_interval_ms: int = Field(500, ge=100, le=60_000)
    # A command that lost a race for its stream is made again (shared/runtime/commands.py):
    # at most this many attempts, waiting a random time up to base * 2**n seconds, capped.
    command_attempts: int = Field(8, ge=1, le=50)
    command_backoff_seconds: float = Field(0.005, ge=0, le=1)
    command_backoff_cap_seconds: float = Field(0.25, ge=0, le=10)
    # What one request may weigh (shared/runtime/limits.py): above it, 413 or 431 before
    # anything reads the request.
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    max_headers: int = Field(DEFAULT_MAX_HEADERS, ge=8)
    max_header_bytes: int = Field(DEFAULT_MAX_HEADER_BYTES, ge=1024)
    max_header_block_bytes: int = Field(DEFAULT_MAX_HEADER_BLOCK_BYTES, ge=1024)
    signing_key: SecretStr = Field(
        description="This service's Ed25519 private key (SONGJI_SIGNING_KEY, URL-safe base64 of "
                    "32 bytes): its relay signs every event it publishes with it")
    public_keys: str = Field(
        description="JSON object (SONGJI_PUBLIC_KEYS): service -> its Ed25519 public key (or "
                    "several, comma-separated, newest first, while one is rotated in) for "
                    "every publishing service; what this service reads is checked against it")
    # How often the store's head is sealed with the signing key and published to the heads
    # topic, when it moved (shared.eventsourcing.heads). A rewrite of the database between two
    # seals is caught at the next one: a shorter interval narrows that window.
    head_seal_interval: float = Field(30.0, gt=0, le=3600)
    # How long an auditor's verification of the store's hash chain may run before it is
    # recorded as failed (shared/audit/jobs.py): it reads the whole history.
    audit_verify_timeout_seconds: float = Field(3600.0, gt=0, le=86400)
    # Several copies of a service on one database: one of them, the holder of a lock in the
    # database, runs the relay and the head sealer (shared.eventsourcing.leadership). A holder
    # silent for a lease loses it; the others try to take it every leader_retry_seconds.
    leader_lease_seconds: float = Field(3.0, ge=1, le=60)
    leader_retry_seconds: float = Field(1.0, gt=0, le=60)
    # How every Kafka client of the service logs in (shared.eventsourcing.kafka_access): in
    # production its own SCRAM user over TLS, whose ACLs let it write only its own topics.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None

    @field_validator("signing_key")
    @classmethod
    def _is_a_signing_key(cls, value: SecretStr) -> SecretStr:
        check_signing_key(value.get_secret_value())  # its error never shows the value
        return value

    @field_validator("public_keys")
    @classmethod
    def _are_public_keys(cls, value: str) -> str:
        return check_public_keys(value)

    @model_validator(mode="after")
    def _kafka_login_complete(self) -> ServiceSettings:
        self.kafka_access()  # raises ValueError naming the missing setting
        return self

    def consumer_group_options(self) -> dict[str, int]:
        """How every consumer of the service keeps its place in its group."""
        return {"session_timeout_ms": self.consumer_session_timeout_ms,
                "heartbeat_interval_ms": self.consumer_heartbeat_interval_ms}

    def kafka_access(self) -> KafkaAccess:
        password = self.kafka_sasl_password
        return KafkaAccess(protocol=self.kafka_security_protocol,
                           mechanism=self.kafka_sasl_mechanism,
                           username=self.kafka_sasl_username,
                           password=password.get_secret_value() if password else None,
                           cafile=self.kafka_ssl_cafile)
    # The longest wait between two tries while the database is away (the waits double from
    # consumer_backoff_seconds up to this): how late a consumer may notice that it is back.
    consumer_outage_max_wait_seconds: float = Field(5.0, gt=0, le=300)
