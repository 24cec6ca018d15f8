"""deploy/k8s renders offline, every object is valid, and the deployment policy holds.

The base and the production overlay are rendered with the real kustomize (tests/deploy/tools.py;
no kubectl, no cluster). Core objects are validated against the Kubernetes OpenAPI schemas that
kubernetes-validate ships, custom resources (KEDA, prometheus-operator) against their CRDs'
schemas (strict both: unknown fields are errors). Then they are checked against what docflow
relies on: probes on the operations port, resources, a locked-down security context, Services,
budgets, autoscaling, the shutdown and spool arithmetic, the network and monitoring components,
and settings that reach every container.
"""

from __future__ import annotations

import base64
import importlib.util
import ipaddress
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import kubernetes_validate.utils  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from docflow.analysis.settings import AnalysisSettings
from docflow.common.settings import CommonSettings, load_settings
from docflow.ingest.main import _BACKGROUND_STOP_S
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.reader import _FORM_OVERHEAD_BYTES
from docflow.query.settings import QuerySettings
from tests.deploy.tools import (
    KustomizeError,
    Manifest,
    crd_errors,
    crd_kinds,
    render,
    split_image,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VARIANTS = {"base": Path("base"), "production": Path("overlays/production")}

# The oldest Kubernetes the manifests claim (the native preStop sleep is on by default from
# 1.30) and the newest that kubernetes-validate ships schemas for. Pinned, not "latest", so a
# new kubernetes-validate release cannot change what passes.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

NAMESPACE = "docflow"
RESUME_JOB = "docflow-resume-deferred"
PART_OF = ("app.kubernetes.io/part-of", "docflow")
RUN_AS_USER = 10001  # the uid the images create (Dockerfile)
SERVICE_PORTS = {"docflow-ingest": 8001, "docflow-query": 8002, "docflow-analysis": 8003}
# CONTRACT.md: /health/ready, /health/detailed and /metrics answer only on these.
OPS_PORTS = {"docflow-ingest": 9101, "docflow-query": 9102, "docflow-analysis": 9103}
AUTOSCALED = {"docflow-ingest", "docflow-query"}
WORKER = "docflow-analysis"
# Custom resources: validated against their CRDs, not kubernetes-validate's schemas.
CUSTOM_GROUPS = ("keda.sh/", "monitoring.coreos.com/")
# What the production overlay's components add.
NETWORK_POLICIES = {
    "docflow-default-deny",
    "docflow-api-from-ingress",
    "docflow-operations-port",
    "docflow-egress-dependencies",
    "docflow-analysis-egress-model-provider",
}
COMPONENT_KINDS = {
    "ScaledObject": {WORKER},
    "TriggerAuthentication": {"docflow-kafka"},
    "PodMonitor": {"docflow"},
    "PrometheusRule": {"docflow"},
    "NetworkPolicy": NETWORK_POLICIES,
}
MONITORING = ROOT / "deploy" / "monitoring"
MONITORING_COMPONENT = K8S / "components" / "monitoring"
# Seconds each service's shutdown spends after uvicorn's graceful phase closing its clients.
CLOSE_MARGIN_S = 5

SECRET_SETTINGS = {"MONGODB_URI", "REDIS_URL", "OPENAI_API_KEY", "KAFKA_SASL_PASSWORD"}
# CONTRACT.md "Settings every deployment uses" (OPENAI_* and LLM_PROVIDER: analysis only).
COMMON_SETTINGS = {
    "APP_ENV",
    "KAFKA_BOOTSTRAP_SERVERS",
    "MONGODB_URI",
    "MONGODB_DATABASE",
    "REDIS_URL",
    "LOG_LEVEL",
    "HTTP_HOST",
    "HTTP_PORT",
}
LLM_SETTINGS = {"LLM_PROVIDER", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"}


# Rendering ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvValue:
    source: str  # "ConfigMap", "Secret" or "literal"
    value: str


@dataclass
class Rendered:
    variant: str
    objects: list[Manifest]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        matches = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(matches) == 1, f"{self.variant}: expected one {kind} {name}, got {len(matches)}"
        return matches[0]

    def deployments(self) -> list[Manifest]:
        return self.of_kind("Deployment")

    def environment(self, container: dict[str, Any]) -> dict[str, EnvValue]:
        """What the container's process sees, in Kubernetes' order: envFrom, then env."""
        env: dict[str, EnvValue] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                data = self.get("ConfigMap", source["configMapRef"]["name"]).get("data", {})
                env.update({k: EnvValue("ConfigMap", v) for k, v in data.items()})
            else:
                data = self.get("Secret", source["secretRef"]["name"]).get("data", {})
                env.update({k: EnvValue("Secret", _decode(v)) for k, v in data.items()})
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = EnvValue("literal", str(variable["value"]))
                continue
            value_from = variable["valueFrom"]
            if "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                data = self.get("Secret", ref["name"]).get("data", {})
                env[variable["name"]] = EnvValue("Secret", _decode(data[ref["key"]]))
            elif "configMapKeyRef" in value_from:
                ref = value_from["configMapKeyRef"]
                data = self.get("ConfigMap", ref["name"]).get("data", {})
                env[variable["name"]] = EnvValue("ConfigMap", data[ref["key"]])
        return env


def _decode(value: str) -> str:
    return base64.b64decode(value).decode("utf-8")


@pytest.fixture(scope="module")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/k8s with .env.secret made from its template, as an operator does."""
    tree = tmp_path_factory.mktemp("deploy") / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns(".env.secret"))
    shutil.copyfile(tree / "base" / ".env.secret.example", tree / "base" / ".env.secret")
    return tree


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest, k8s_tree: Path) -> Rendered:
    variant = str(request.param)
    return Rendered(variant, render(k8s_tree / VARIANTS[variant]))


@pytest.fixture(scope="module")
def production(k8s_tree: Path) -> Rendered:
    return Rendered("production", render(k8s_tree / VARIANTS["production"]))


def containers(deployment: Manifest) -> list[dict[str, Any]]:
    pod_spec = deployment["spec"]["template"]["spec"]
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def each_container(rendered: Rendered) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for deployment in rendered.deployments():
        for container in containers(deployment):
            yield deployment, container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_labels(deployment: Manifest) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def container_port(container: dict[str, Any], port: int | str) -> int:
    """The number a probe or Service port (a name or a number) resolves to in the container."""
    for declared in container.get("ports", []):
        if port in (declared.get("name"), declared["containerPort"]):
            return int(declared["containerPort"])
    raise AssertionError(f"container {container['name']} declares no port {port!r}")


QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
UNITS = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def quantity(value: str | int) -> Decimal:
    match = QUANTITY.match(str(value))
    assert match, f"not a quantity this test understands: {value!r}"
    return Decimal(match.group(1)) * UNITS[match.group(2)]


# Schema ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes(rendered: Rendered, version: str) -> None:
    errors = []
    for manifest in rendered.objects:
        if manifest["apiVersion"].startswith(CUSTOM_GROUPS):
            continue  # test_custom_resources_match_their_crds
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            validated = kubernetes_validate.utils.validate(manifest, version, strict=True)
        except kubernetes_validate.utils.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{name}: {path}: {error.message}")
        except kubernetes_validate.utils.SchemaNotFoundError as error:
            errors.append(f"{name}: {error.message}")
        else:
            # kubernetes-validate falls back to an older schema when it lacks the one asked for.
            assert validated == kubernetes_validate.utils.major_minor(version)
    assert not errors, f"{rendered.variant} against Kubernetes {version}:\n" + "\n".join(errors)


def test_custom_resources_match_their_crds(rendered: Rendered) -> None:
    custom = [m for m in rendered.objects if m["apiVersion"].startswith(CUSTOM_GROUPS)]
    if not custom:
        return  # the base opts into no component
    known = crd_kinds()
    errors = []
    for manifest in custom:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if (manifest["apiVersion"], manifest["kind"]) not in known:
            errors.append(f"{name}: no fetched CRD serves {manifest['apiVersion']}")
            continue
        errors.extend(f"{name}: {error}" for error in crd_errors(manifest))
    assert not errors, f"{rendered.variant}:\n" + "\n".join(errors)


def test_expected_objects_are_rendered(rendered: Rendered) -> None:
    kinds: dict[str, set[str]] = {}
    for manifest in rendered.objects:
        kinds.setdefault(manifest["kind"], set()).add(manifest["metadata"]["name"])
    assert kinds["Namespace"] == {NAMESPACE}
    assert kinds["Deployment"] == set(SERVICE_PORTS)
    assert kinds["Service"] == set(SERVICE_PORTS)
    assert kinds["PodDisruptionBudget"] == set(SERVICE_PORTS)
    assert kinds["HorizontalPodAutoscaler"] == AUTOSCALED
    assert kinds["CronJob"] == {RESUME_JOB}
    assert len(kinds["Secret"]) == 1
    # docflow-common plus one per service, each with its content hash appended.
    settings_maps = {name for name in kinds["ConfigMap"] if name != "docflow-dashboard"}
    assert {re.sub(r"-[a-z0-9]{10}$", "", name) for name in settings_maps} == {
        "docflow-common",
        *SERVICE_PORTS,
    }
    # The optional components: production opts into all of them, the base into none.
    in_production = rendered.variant == "production"
    for kind, names in COMPONENT_KINDS.items():
        assert kinds.get(kind, set()) == (names if in_production else set()), kind
    assert ("docflow-dashboard" in kinds["ConfigMap"]) is in_production


def test_objects_are_namespaced_and_labelled(rendered: Rendered) -> None:
    key, value = PART_OF
    for manifest in rendered.objects:
        metadata = manifest["metadata"]
        assert metadata["labels"][key] == value, metadata["name"]
        if manifest["kind"] != "Namespace":
            assert metadata["namespace"] == NAMESPACE, metadata["name"]
    for deployment in rendered.deployments():
        assert pod_labels(deployment)[key] == value


def test_namespace_enforces_restricted_pod_security(rendered: Rendered) -> None:
    labels = rendered.get("Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# Containers --------------------------------------------------------------------------------------


def test_containers_probe_the_contract_health_endpoints(rendered: Rendered) -> None:
    for _, container in each_container(rendered):
        name = container["name"]
        port = SERVICE_PORTS[f"docflow-{name}"]
        ops_port = OPS_PORTS[f"docflow-{name}"]
        expected = {
            "livenessProbe": ("/health", ops_port),
            "readinessProbe": ("/health/ready", ops_port),
            "startupProbe": ("/health", ops_port),
        }
        for probe_name, (path, probe_port) in expected.items():
            probe = container.get(probe_name)
            assert probe, f"{name}: no {probe_name}"
            assert probe["httpGet"]["path"] == path, f"{name}: {probe_name}"
            assert container_port(container, probe["httpGet"]["port"]) == probe_port, name
        assert container_port(container, "http") == port
        assert container_port(container, "ops") == ops_port


def test_containers_have_requests_and_limits(rendered: Rendered) -> None:
    for _, container in each_container(rendered):
        resources = container.get("resources", {})
        for resource in ("cpu", "memory"):
            request = resources.get("requests", {}).get(resource)
            limit = resources.get("limits", {}).get(resource)
            assert request, f"{container['name']}: no {resource} request"
            assert limit, f"{container['name']}: no {resource} limit"
            assert quantity(request) <= quantity(limit), f"{container['name']}: {resource}"


def test_containers_run_locked_down(rendered: Rendered) -> None:
    for deployment, container in each_container(rendered):
        pod_spec = deployment["spec"]["template"]["spec"]
        # A container's own securityContext wins over the pod's.
        effective = {**pod_spec.get("securityContext", {}), **container["securityContext"]}
        name = container["name"]
        assert effective.get("runAsNonRoot") is True, name
        assert effective.get("runAsUser") == RUN_AS_USER, name
        assert effective.get("readOnlyRootFilesystem") is True, name
        assert effective.get("allowPrivilegeEscalation") is False, name
        assert effective.get("capabilities", {}).get("drop") == ["ALL"], name
        assert not effective.get("capabilities", {}).get("add"), name
        assert effective.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert effective.get("privileged") is not True, name
        assert pod_spec.get("automountServiceAccountToken") is False, name
        assert not pod_spec.get("hostNetwork"), name
        assert not pod_spec.get("hostPID"), name


def test_tmp_is_a_writable_empty_dir(rendered: Rendered) -> None:
    for deployment, container in each_container(rendered):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, container["name"]
        volume = volumes[mounts["/tmp"]["name"]]
        assert "emptyDir" in volume, container["name"]
        assert not mounts["/tmp"].get("readOnly"), container["name"]


def test_deferred_documents_are_resumed_daily_after_the_budget_reset(
    rendered: Rendered,
) -> None:
    """`make resume-deferred` as a CronJob: the analysis image and settings, locked down."""
    cron = rendered.get("CronJob", RESUME_JOB)
    spec = cron["spec"]
    minute, hour, *_ = spec["schedule"].split()
    assert (spec["timeZone"], hour) == ("Etc/UTC", "0"), "in the hour after 00:00 UTC"
    assert int(minute) > 0, "after the reset, not at it"
    assert spec["concurrencyPolicy"] == "Forbid"
    pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod_spec["containers"]
    assert container["command"][-1] == "docflow.analysis.analyses.resume"
    [worker] = containers(rendered.get("Deployment", WORKER))
    assert split_image(container["image"])[:2] == split_image(worker["image"])[:2]
    assert container["envFrom"] == worker["envFrom"]
    rendered.environment(container)  # every reference resolves
    effective = {**pod_spec["securityContext"], **container["securityContext"]}
    assert effective["runAsNonRoot"] is True
    assert effective["readOnlyRootFilesystem"] is True
    assert effective["allowPrivilegeEscalation"] is False
    assert effective["capabilities"]["drop"] == ["ALL"]
    assert pod_spec["automountServiceAccountToken"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_images_are_tagged(rendered: Rendered) -> None:
    for deployment, container in each_container(rendered):
        name, tag, digest = split_image(container["image"])
        assert name.endswith(deployment["metadata"]["name"]), container["image"]
        assert digest or (tag and tag != "latest"), container["image"]


def test_metrics_are_scraped_from_the_operations_port(rendered: Rendered) -> None:
    for deployment in rendered.deployments():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        name = deployment["metadata"]["name"]
        assert int(annotations["prometheus.io/port"]) == OPS_PORTS[name]


def grace_period(deployment: Manifest) -> int:
    seconds: int = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    return seconds


def pre_stop_s(container: dict[str, Any]) -> int:
    seconds: int = (
        container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    )
    return seconds


def test_grace_periods_cover_prestop_drain_and_flush(rendered: Rendered) -> None:
    """terminationGracePeriodSeconds >= preStop + GRACEFUL_SHUTDOWN_S + the service's own
    shutdown budget + closing the clients; past it the kubelet kills what is still running."""
    for deployment in rendered.deployments():
        name = deployment["metadata"]["name"]
        [container] = containers(deployment)
        env = rendered.environment(container)
        drain = int(env["GRACEFUL_SHUTDOWN_S"].value)
        if name == "docflow-ingest":
            # Background tasks stop, then the outbox's last publish waits for Kafka's answer.
            flush = _BACKGROUND_STOP_S + float(env["PUBLISH_TIMEOUT_S"].value)
        elif name == WORKER:
            flush = float(env["SHUTDOWN_TIMEOUT_S"].value)  # the poll in flight finishes
        else:
            flush = 0.0
        needed = pre_stop_s(container) + drain + flush + CLOSE_MARGIN_S
        assert grace_period(deployment) >= needed, f"{name}: {grace_period(deployment)} < {needed}"
        if name != WORKER:
            # The APIs keep serving while the endpoint removal reaches every proxy.
            assert pre_stop_s(container) >= 5, name


def test_the_upload_spool_holds_the_uploads_allowed(rendered: Rendered) -> None:
    """/tmp of ingest >= (MAX_UPLOAD_BYTES + form overhead) x UPLOADS_PER_TENANT x the tenants
    uploading at once that ingest.yaml sizes for (8): the formula its comment states."""
    deployment = rendered.get("Deployment", "docflow-ingest")
    [container] = containers(deployment)
    env = rendered.environment(container)
    per_upload = int(env["MAX_UPLOAD_BYTES"].value) + _FORM_OVERHEAD_BYTES
    uploads = int(env["UPLOADS_PER_TENANT"].value) * 8
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    spool = quantity(volumes[mount["name"]]["emptyDir"]["sizeLimit"])
    assert spool >= per_upload * uploads, f"{spool} < {per_upload} x {uploads}"


# Configuration -----------------------------------------------------------------------------------


def test_references_resolve(rendered: Rendered) -> None:
    """Every ConfigMap and Secret a container names exists, with its hash suffix."""
    for _, container in each_container(rendered):
        rendered.environment(container)  # raises on a missing object or key


def test_settings_reach_every_container(rendered: Rendered) -> None:
    for deployment, container in each_container(rendered):
        name = deployment["metadata"]["name"]
        env = rendered.environment(container)
        expected = COMMON_SETTINGS | (LLM_SETTINGS if name == WORKER else set())
        assert expected <= set(env), f"{name} misses {sorted(expected - set(env))}"
        assert env["HTTP_HOST"].value == "0.0.0.0"
        assert int(env["HTTP_PORT"].value) == container_port(container, "http")
        assert int(env["OPS_PORT"].value) == container_port(container, "ops")
        assert env["APP_ENV"].value in ("development", "staging", "production")
        if name != WORKER:
            origins = json.loads(env["CORS_ORIGINS"].value)
            assert isinstance(origins, list), env["CORS_ORIGINS"]
            assert "*" not in origins
        else:
            assert env["OPENAI_BASE_URL"].value.endswith("/v1")
            assert env["LLM_PROVIDER"].value in ("local", "openai")


def test_secrets_come_only_from_the_secret(rendered: Rendered) -> None:
    for config_map in rendered.of_kind("ConfigMap"):
        leaked = SECRET_SETTINGS & set(config_map.get("data", {}))
        assert not leaked, f"{config_map['metadata']['name']} holds {leaked}"
    for deployment, container in each_container(rendered):
        env = rendered.environment(container)
        for key in SECRET_SETTINGS & set(env):
            assert env[key].source == "Secret", f"{deployment['metadata']['name']}: {key}"
        # Least privilege: only the worker talks to the LLM API.
        if deployment["metadata"]["name"] != WORKER:
            assert "OPENAI_API_KEY" not in env


def test_secret_template_lists_every_secret_with_a_placeholder() -> None:
    template = K8S / "base" / ".env.secret.example"
    entries = dict(
        line.split("=", 1)
        for line in template.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert set(entries) == SECRET_SETTINGS
    assert all("CHANGEME" in value for value in entries.values())
    ignored = (K8S / "base" / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env.secret" in ignored


# Services, budgets, scaling ----------------------------------------------------------------------


def test_every_deployment_has_a_service_selecting_its_pods(rendered: Rendered) -> None:
    services = rendered.of_kind("Service")
    for deployment in rendered.deployments():
        labels = pod_labels(deployment)
        assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
        matching = [s for s in services if selects(s["spec"].get("selector", {}), labels)]
        assert len(matching) == 1, deployment["metadata"]["name"]
        container = containers(deployment)[0]
        for port in matching[0]["spec"]["ports"]:
            expected = SERVICE_PORTS[deployment["metadata"]["name"]]
            assert container_port(container, port["targetPort"]) == expected
        spreads = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert [s["topologyKey"] for s in spreads] == [
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        ]
        for spread in spreads:
            assert selects(spread["labelSelector"]["matchLabels"], labels)


def test_every_deployment_has_a_disruption_budget(rendered: Rendered) -> None:
    budgets = rendered.of_kind("PodDisruptionBudget")
    for deployment in rendered.deployments():
        labels = pod_labels(deployment)
        matching = [b for b in budgets if selects(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(matching) == 1, deployment["metadata"]["name"]
        # A budget that allows no eviction would block every node drain.
        assert matching[0]["spec"].get("maxUnavailable", 0) >= 1


def test_http_services_autoscale_on_cpu(rendered: Rendered) -> None:
    autoscalers = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in rendered.of_kind("HorizontalPodAutoscaler")
    }
    assert set(autoscalers) == AUTOSCALED
    for name, autoscaler in autoscalers.items():
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["kind"], target["apiVersion"]) == ("Deployment", "apps/v1")
        deployment = rendered.get("Deployment", name)
        # A replica count in the Deployment would reset the autoscaler on every apply.
        assert "replicas" not in deployment["spec"], name
        assert 2 <= autoscaler["spec"]["minReplicas"] < autoscaler["spec"]["maxReplicas"]
        metrics = [m["resource"]["name"] for m in autoscaler["spec"]["metrics"]]
        assert metrics == ["cpu"], name
        assert all("cpu" in c["resources"]["requests"] for c in containers(deployment))


def test_analysis_replicas_stay_within_the_partitions(rendered: Rendered) -> None:
    deployment = rendered.get("Deployment", WORKER)
    env = rendered.environment(containers(deployment)[0])
    partitions = int(env["KAFKA_TOPIC_PARTITIONS"].value)
    assert partitions == 6  # documents.ingested, as the comments in analysis.yaml say
    scalers = rendered.of_kind("ScaledObject")
    if not scalers:
        assert 1 <= deployment["spec"]["replicas"] <= partitions
        return
    # KEDA owns the count: a fixed one would reset its HPA on every apply.
    assert "replicas" not in deployment["spec"]
    [scaler] = scalers
    spec = scaler["spec"]
    assert spec["scaleTargetRef"]["name"] == WORKER
    assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"] == partitions
    assert spec["cooldownPeriod"] > 0
    [trigger] = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert metadata["topic"] == "documents.ingested"
    assert metadata["consumerGroup"] == AnalysisSettings().analysis_consumer_group
    assert int(metadata["lagThreshold"]) > 0
    # The trigger connects as the worker does: its bootstrap servers and its Kafka user.
    assert metadata["bootstrapServersFromEnv"] == "KAFKA_BOOTSTRAP_SERVERS"
    assert env["KAFKA_SECURITY_PROTOCOL"].value == "SASL_SSL"
    assert (metadata["sasl"], metadata["tls"]) == ("scram_sha512", "enable")
    assert env["KAFKA_SASL_MECHANISM"].value == "SCRAM-SHA-512"
    auth = rendered.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
    for entry in auth["spec"]["env"]:
        assert entry["containerName"] == containers(deployment)[0]["name"]
        assert entry["name"] in env, entry


def test_production_runs_production(production: Rendered) -> None:
    for _, container in each_container(production):
        assert production.environment(container)["APP_ENV"].value == "production"
        name, tag, _ = split_image(container["image"])
        registry = name.split("/")[0]
        assert "." in registry, f"no registry in {container['image']}"
        assert tag != "latest"
    for autoscaler in production.of_kind("HorizontalPodAutoscaler"):
        assert autoscaler["spec"]["minReplicas"] >= 3


def test_production_settings_pass_the_production_rules(
    production: Rendered, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the template's CHANGEME replaced (as the deploy pipeline does), every service
    starts under APP_ENV=production: TLS and credentials everywhere, a spend cap."""
    settings_classes: dict[str, type[CommonSettings]] = {
        "docflow-ingest": IngestSettings,
        "docflow-query": QuerySettings,
        "docflow-analysis": AnalysisSettings,
    }
    for deployment, container in each_container(production):
        with monkeypatch.context() as env:
            for key, value in production.environment(container).items():
                env.setenv(key, value.value.replace("CHANGEME", "from-the-secret-store"))
            settings = load_settings(settings_classes[deployment["metadata"]["name"]])
        assert settings.is_production
        assert settings.docs_public is False


def namespace_sources(rule: dict[str, Any]) -> set[str]:
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule.get("from", rule.get("to", []))
        if "namespaceSelector" in peer
    }


def policies_for(rendered: Rendered, labels: dict[str, str], kind: str) -> list[dict[str, Any]]:
    """The specs of the NetworkPolicies of type `kind` that select pods with `labels`."""
    selected = []
    for policy in rendered.of_kind("NetworkPolicy"):
        spec = policy["spec"]
        if kind not in spec["policyTypes"]:
            continue
        selector = spec["podSelector"]
        names = [e["values"] for e in selector.get("matchExpressions", [])]
        if all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
            labels.get("app.kubernetes.io/name") in values for values in names
        ):
            selected.append(spec)
    return selected


def test_the_network_is_denied_by_default(production: Rendered) -> None:
    deny = production.get("NetworkPolicy", "docflow-default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_each_port_is_reached_only_by_who_needs_it(production: Rendered) -> None:
    for deployment in production.deployments():
        name = deployment["metadata"]["name"]
        rules = [
            r
            for p in policies_for(production, pod_labels(deployment), "Ingress")
            for r in p.get("ingress", [])
        ]
        by_port: dict[str, list[dict[str, Any]]] = {}
        for rule in rules:
            assert rule.get("from"), f"{name}: a rule open to everyone"
            for port in rule["ports"]:
                by_port.setdefault(port["port"], []).append(rule)
        expected_ports = {"ops"} if name == WORKER else {"http", "ops"}
        assert set(by_port) == expected_ports, name
        [ops] = by_port["ops"]
        assert namespace_sources(ops) == {"monitoring"}
        [node] = [peer["ipBlock"]["cidr"] for peer in ops["from"] if "ipBlock" in peer]
        assert ipaddress.ip_network(node).is_private, "the kubelet probes from the node CIDR"
        if name != WORKER:
            [api] = by_port["http"]
            assert namespace_sources(api) == {"ingress-nginx"}
            assert all("namespaceSelector" in peer for peer in api["from"])


def test_egress_goes_only_to_the_dependencies(production: Rendered) -> None:
    workloads = [*production.deployments(), production.get("CronJob", RESUME_JOB)]
    for workload in workloads:
        name = workload["metadata"]["name"]
        template = workload["spec"].get("jobTemplate", workload)["spec"]["template"]
        labels = template["metadata"]["labels"]
        rules = [r for p in policies_for(production, labels, "Egress") for r in p.get("egress", [])]
        namespaces = set().union(*(namespace_sources(rule) for rule in rules))
        assert namespaces == {"kube-system", "kafka", "mongodb", "redis"}, name
        external = [r for r in rules if any("ipBlock" in peer for peer in r["to"])]
        if name == WORKER:
            [provider] = external
            assert [p["port"] for p in provider["ports"]] == [443]
            [block] = [peer["ipBlock"] for peer in provider["to"]]
            assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(block["except"])
        else:
            assert not external, f"{name} may reach outside the cluster"


def test_the_operations_ports_are_scraped(production: Rendered) -> None:
    [monitor] = production.of_kind("PodMonitor")
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("ops", "/metrics")
    [expression] = monitor["spec"]["selector"]["matchExpressions"]
    assert set(expression["values"]) == set(OPS_PORTS)
    for deployment in production.deployments():
        assert pod_labels(deployment)["app.kubernetes.io/name"] in expression["values"]


def test_the_dashboard_is_a_grafana_config_map(production: Rendered) -> None:
    dashboard = production.get("ConfigMap", "docflow-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    [(file_name, text)] = dashboard["data"].items()
    assert file_name.endswith(".json")
    assert json.loads(text)["title"]


@pytest.mark.parametrize(
    ("source", "copy"),
    [("alerts.yaml", "prometheusrule.yaml"), ("dashboard.json", "dashboard.json")],
)
def test_monitoring_copies_match_deploy_monitoring(source: str, copy: str) -> None:
    """kustomize reads nothing outside a component's folder: the PrometheusRule and dashboard
    are copies, rewritten by deploy/k8s/components/monitoring/sync.py."""
    if not (MONITORING / source).exists():
        pytest.skip(f"deploy/monitoring/{source} does not exist yet: the component's own stands")
    sync = _load_sync()
    expected = sync.expected_copies()[MONITORING_COMPONENT / copy]
    actual = (MONITORING_COMPONENT / copy).read_text(encoding="utf-8")
    assert actual == expected, f"{copy} is stale: uv run python {MONITORING_COMPONENT / 'sync.py'}"


def test_the_rule_copy_wraps_the_rules_file() -> None:
    rules = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
    rule = yaml.safe_load(_load_sync().prometheus_rule(rules))
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(rules)


def _load_sync() -> Any:
    spec = importlib.util.spec_from_file_location(
        "monitoring_sync", MONITORING_COMPONENT / "sync.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Rendering ---------------------------------------------------------------------------------------


def test_building_without_the_secret_file_fails(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns(".env.secret"))
    with pytest.raises(KustomizeError, match=r"\.env\.secret"):
        render(tree / "base")
