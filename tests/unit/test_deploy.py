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
