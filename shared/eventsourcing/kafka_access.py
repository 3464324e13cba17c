"""How a process authenticates to the Kafka cluster: the options of every Kafka client it makes.

Kafka's ACLs are the first defence against forged events (the services' signatures the
second): in production each service logs in as its own user (SASL/SCRAM over TLS, see
``deploy/kubernetes/kafka-access.yaml``), allowed to write only its own topics. The embedded
broker of local runs and tests has no users: there the default, PLAINTEXT, applies.

The settings, the same for a service (``ServiceSettings``) and the auditor's tools
(``from_env``): ``SONGJI_KAFKA_SECURITY_PROTOCOL`` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL),
``SONGJI_KAFKA_SASL_MECHANISM`` (SCRAM-SHA-512 by default), ``SONGJI_KAFKA_SASL_USERNAME``,
``SONGJI_KAFKA_SASL_PASSWORD`` and ``SONGJI_KAFKA_SSL_CAFILE`` (the cluster's CA certificate,
for SSL and SASL_SSL; the system's CAs otherwise).

Imports nothing of Songji's, so the auditor's topic reader process can use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
ENV = {"protocol": "SONGJI_KAFKA_SECURITY_PROTOCOL", "mechanism": "SONGJI_KAFKA_SASL_MECHANISM",
       "username": "SONGJI_KAFKA_SASL_USERNAME", "password": "SONGJI_KAFKA_SASL_PASSWORD",
       "cafile": "SONGJI_KAFKA_SSL_CAFILE"}


@dataclass(frozen=True)
class KafkaAccess:
    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown
    cafile: str | None = None

    def __post_init__(self) -> None:
        """Errors name the setting, never a value."""
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"{ENV['protocol']} must be one of {', '.join(PROTOCOLS)}")
        if self.sasl:
            if self.mechanism not in MECHANISMS:
                raise ValueError(f"{ENV['mechanism']} must be one of {', '.join(MECHANISMS)}")
            if not self.username or not self.password:
                raise ValueError(f"{self.protocol} needs {ENV['username']} and "
                                 f"{ENV['password']}")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaAccess:
        env = os.environ if env is None else env
        return cls(protocol=env.get(ENV["protocol"]) or "PLAINTEXT",
                   mechanism=env.get(ENV["mechanism"]) or "SCRAM-SHA-512",
                   username=env.get(ENV["username"]) or None,
                   password=env.get(ENV["password"]) or None,
                   cafile=env.get(ENV["cafile"]) or None)

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments of an aiokafka producer, consumer or admin client."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(cafile=self.cafile)
        if self.sasl:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options

    def faststream_security(self) -> Any:
        """The same for FastStream's ``KafkaBroker(security=...)`` (None: PLAINTEXT)."""
        if self.protocol == "PLAINTEXT":
            return None
        from faststream.security import (
            BaseSecurity,
            SASLPlaintext,
            SASLScram256,
            SASLScram512,
        )

        context = self.client_options().get("ssl_context")
        if not self.sasl:
            return BaseSecurity(ssl_context=context, use_ssl=True)
        kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256,
                "PLAIN": SASLPlaintext}[self.mechanism]
        return kind(username=self.username or "", password=self.password or "",
                    ssl_context=context, use_ssl=self.tls)
