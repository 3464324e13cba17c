"""How the services and the auditor log in to Kafka: nothing to set for the embedded broker;
SASL/SCRAM over TLS with a user and password from the settings; an incomplete login refused
naming the setting, never showing the password."""

from __future__ import annotations

import pytest
from faststream.security import SASLScram512

from shared.eventsourcing.kafka_access import KafkaAccess
from shared.runtime.settings import ServiceSettings
from tests.support import signing_settings

BASE = {"database_url": "postgresql://localhost/x", "kafka_bootstrap_servers": "localhost:9092",
        **signing_settings("training")}


def test_the_default_is_plaintext_with_no_options() -> None:
    settings = ServiceSettings(**BASE)
    assert settings.kafka_access().client_options() == {}
    assert settings.kafka_access().faststream_security() is None
    assert KafkaAccess.from_env({}).client_options() == {}


def test_scram_over_tls_from_the_settings() -> None:
    settings = ServiceSettings(**BASE, kafka_security_protocol="SASL_SSL",
                               kafka_sasl_username="songji-training",
                               kafka_sasl_password="s3cret")
    options = settings.kafka_access().client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "songji-training", "s3cret")
    assert options["ssl_context"] is not None
    security = settings.kafka_access().faststream_security()
    assert isinstance(security, SASLScram512) and security.use_ssl
    assert "s3cret" not in repr(settings.kafka_access())


def test_the_auditor_reads_the_same_settings_from_its_environment() -> None:
    access = KafkaAccess.from_env({"SONGJI_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                   "SONGJI_KAFKA_SASL_USERNAME": "songji-auditor",
                                   "SONGJI_KAFKA_SASL_PASSWORD": "pw"})
    assert access.client_options()["security_protocol"] == "SASL_PLAINTEXT"
    assert "ssl_context" not in access.client_options()


def test_an_incomplete_login_is_refused_without_its_value() -> None:
    with pytest.raises(ValueError, match="SONGJI_KAFKA_SASL_PASSWORD") as refused:
        ServiceSettings(**BASE, kafka_security_protocol="SASL_SSL",
                        kafka_sasl_username="songji-training")
    assert "songji-training" not in str(refused.value)
    with pytest.raises(ValueError, match="SONGJI_KAFKA_SECURITY_PROTOCOL"):
        KafkaAccess.from_env({"SONGJI_KAFKA_SECURITY_PROTOCOL": "KERBEROS"})
