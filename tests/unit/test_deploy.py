"""deploy/: no Docker engine here, so the files are checked with validators instead of run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.assessment.app import SPEC as ASSESSMENT
from services.employment.app import SPEC as EMPLOYMENT
from services.enrolment.app import SPEC as ENROLMENT
from services.funding.app import SPEC as FUNDING
from services.notifications.app import SPEC as NOTIFICATIONS
from services.training.app import SPEC as TRAINING
from shared.eventsourcing.topics import (
    SERVICES,
    all_topics,
    dead_letter_topic,
    events_topic,
    heads_topic,
)

DEPLOY = Path(__file__).parents[2] / "deploy"
K8S = DEPLOY / "kubernetes"
SPECS = (ENROLMENT, TRAINING, ASSESSMENT, FUNDING, NOTIFICATIONS, EMPLOYMENT)


def manifests() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in sorted(K8S.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
         "vendor.compose-spec", str(DEPLOY / "compose.yaml")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_service_with_its_own_database_and_kafka_kraft() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert "KAFKA_PROCESS_ROLES" in compose["kafka"]["environment"]  # KRaft, no ZooKeeper
    for service in SERVICES:
        assert compose[service]["command"] == ["python", "-m", f"services.{service}"]
        assert f"@{service}-db:5432/" in compose[service]["environment"]["SONGJI_DATABASE_URL"]
        assert f"{service}-db" in compose


@pytest.mark.parametrize(("name", "doc"), [m for m in manifests()
                                           if not m[1]["apiVersion"].startswith("kafka.")])
def test_kubernetes_manifests_are_valid(name: str, doc: dict) -> None:
    kubernetes_validate.validate(doc, "1.33", strict=True)


def test_every_service_has_a_deployment_and_a_service_with_probes() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests()}
    for service in SERVICES:
        assert ("Deployment", service) in kinds and ("Service", service) in kinds
    for _, doc in manifests():
        if doc["kind"] == "Deployment":
            [container] = doc["spec"]["template"]["spec"]["containers"]
            assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
            assert container["command"][-1] == f"services.{doc['metadata']['name']}"


def test_kafka_is_declared_as_strimzi_resources_in_kraft_mode() -> None:
    kafka = [doc for _, doc in manifests() if doc["kind"] == "Kafka"]
    pools = [doc for _, doc in manifests() if doc["kind"] == "KafkaNodePool"]
    assert len(kafka) == 1 and len(pools) == 1
    assert kafka[0]["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert pools[0]["metadata"]["labels"]["strimzi.io/cluster"] == kafka[0]["metadata"]["name"]
    assert kafka[0]["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False


def test_dockerfile_runs_a_service_as_a_non_root_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "USER nobody" in text and "pip install --no-cache-dir ." in text


def test_no_secret_value_is_shipped() -> None:
    # A placeholder shipped here ends up running (CHANGE-ME was a valid lookup key): the
    # operator creates the Secret songji-secrets from their own store (see config.yaml).
    assert [name for name, doc in manifests() if doc["kind"] == "Secret"] == []
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for line in path.read_text().splitlines():
            code = line.split("#", 1)[0]
            for setting in ("SONGJI_LOOKUP_KEY", "SONGJI_PERSONAL_DATA_KEY",
                            "SONGJI_WEBHOOK_SECRET_KEY"):
                if setting in code:
                    value = code.split(setting, 1)[1].lstrip(":= \t\"'").rstrip("\"' ")
                    assert value == "", f"{path.name} gives {setting} a value"
            assert "CHANGE-ME" not in code, f"{path.name} ships a placeholder secret"


WRITES = {"Write", "Create", "Delete", "Alter", "AlterConfigs", "All"}


def _kafka_users() -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == "KafkaUser"}


def _topics_allowed(user: dict, operations: set[str]) -> set[str]:
    """The topics on which ``user`` has any of ``operations`` (literal names only: a prefix
    or a wildcard on a topic would reach further than the one topic it names)."""
    found = set()
    for acl in user["spec"]["authorization"]["acls"]:
        if acl["resource"]["type"] == "topic" and operations & set(acl["operations"]):
            assert acl["resource"].get("patternType", "literal") == "literal", acl
            found.add(acl["resource"]["name"])
    return found


def test_kafka_is_reached_only_with_a_login_and_requests_are_checked_against_acls() -> None:
    [kafka] = [doc for _, doc in manifests() if doc["kind"] == "Kafka"]
    listeners = kafka["spec"]["kafka"]["listeners"]
    assert listeners and all(
        lst.get("authentication", {}).get("type") == "scram-sha-512" and lst["tls"]
        for lst in listeners)
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert "userOperator" in kafka["spec"]["entityOperator"]
    config = next(doc for _, doc in manifests() if doc["kind"] == "ConfigMap")["data"]
    assert config["SONGJI_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["SONGJI_KAFKA_BOOTSTRAP_SERVERS"].endswith(f":{listeners[0]['port']}")


def test_every_topic_is_declared() -> None:
    declared = {doc["spec"]["topicName"] for _, doc in manifests()
                if doc["kind"] == "KafkaTopic"}
    assert declared == set(all_topics("songji"))


def test_each_service_writes_only_its_own_topics_and_reads_what_it_consumes() -> None:
    users = _kafka_users()
    for spec in SPECS:
        user = users[f"songji-{spec.name}"]
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "songji"
        own = {events_topic(spec.name), heads_topic(spec.name)}
        assert _topics_allowed(user, WRITES) == own | {dead_letter_topic()}, spec.name
        consumed = {events_topic(s) for sub in spec.subscriptions for s in sub.services}
        assert consumed <= _topics_allowed(user, {"Read"}), spec.name
        groups = [acl["resource"] for acl in user["spec"]["authorization"]["acls"]
                  if acl["resource"]["type"] == "group"]
        assert groups == [{"type": "group", "name": f"songji.{spec.name}.",
                           "patternType": "prefix"}]
    assert {spec.name for spec in SPECS} == set(SERVICES)


def test_the_auditor_reads_every_topic_and_writes_none() -> None:
    auditor = _kafka_users()["songji-auditor"]
    assert _topics_allowed(auditor, WRITES) == set()
    assert _topics_allowed(auditor, {"Read"}) == set(all_topics("songji"))


def test_each_deployment_logs_in_as_its_own_kafka_user() -> None:
    for _, doc in manifests():
        if doc["kind"] != "Deployment":
            continue
        name = doc["metadata"]["name"]
        [container] = doc["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["SONGJI_KAFKA_SASL_USERNAME"]["value"] == f"songji-{name}"
        assert env["SONGJI_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": f"songji-{name}", "key": "password"}
        assert any(m["mountPath"] == "/etc/songji/kafka-ca" for m in container["volumeMounts"])


def test_each_service_gets_its_own_signing_key_and_no_key_is_shipped() -> None:
    deployments = {doc["metadata"]["name"]: doc for _, doc in manifests()
                   if doc["kind"] == "Deployment"}
    for service in SERVICES:
        [container] = deployments[service]["spec"]["template"]["spec"]["containers"]
        [key] = [e for e in container["env"] if e["name"] == "SONGJI_SIGNING_KEY"]
        assert key["valueFrom"]["secretKeyRef"] == {"name": f"songji-{service}-signing",
                                                    "key": "SONGJI_SIGNING_KEY"}
    for _, doc in manifests():
        values = {**doc.get("data", {}), **doc.get("stringData", {})}
        assert "SONGJI_SIGNING_KEY" not in values
        assert values.get("SONGJI_PUBLIC_KEYS", "") == ""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for service in SERVICES:
        assert compose[service]["env_file"] == [".env", f"keys/{service}.env"]
    example = (DEPLOY / "env.example").read_text()
    assert "SONGJI_PUBLIC_KEYS=\n" in example
    assert not any(line.startswith("SONGJI_SIGNING_KEY") for line in example.splitlines())


def test_the_operator_rereads_dead_letters_and_writes_only_events_topics() -> None:
    operator = _kafka_users()["songji-operator"]
    assert _topics_allowed(operator, {"Read"}) == {dead_letter_topic()}
    assert _topics_allowed(operator, WRITES) == {events_topic(s) for s in SERVICES}
