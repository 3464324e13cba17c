"""deploy/: no Docker engine here, so the files are checked with validators instead of run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from shared.eventsourcing.topics import SERVICES

DEPLOY = Path(__file__).parents[2] / "deploy"
K8S = DEPLOY / "kubernetes"


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
