"""A small offline kustomize: the subset deploy/k8s uses, so the tests need no kubectl.

Supported kustomization fields:

- `resources`: YAML files (several documents each) and directories holding a kustomization;
- `namespace`: set on every namespaced object; a Namespace object is renamed to it;
- `labels`: `pairs`, with `includeTemplates` (pod templates too); not `includeSelectors`;
- `configMapGenerator`, `secretGenerator`: `envs` and `literals`, `behavior` create, merge or
  replace, and the content-hash name suffix (kustomize's own hash, so the names match
  `kubectl kustomize` byte for byte) with every pod-spec reference rewritten to it;
- `patches`: strategic merge of maps (the patch names its target by apiVersion, kind and name,
  or through `target`); a patch that touches a list is refused, since merging lists needs the
  per-field strategies of the API schema;
- `replicas` and `images`.

Anything else raises `KustomizeError` rather than being ignored, so the manifests cannot use a
feature this renderer would silently get wrong. test_manifests.py compares the output with
`kubectl kustomize` wherever kubectl is installed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

Manifest = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "labels",
        "configMapGenerator",
        "secretGenerator",
        "patches",
        "replicas",
        "images",
    }
)

# Kinds whose references to ConfigMaps and Secrets this renderer knows how to rewrite. Another
# kind could hold such a reference (an Ingress's TLS secret, say) and would keep a stale name.
SUPPORTED_KINDS = frozenset(
    {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Service",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
)
CLUSTER_SCOPED_KINDS = frozenset({"Namespace"})
SCALABLE_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})
TEMPLATED_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})

# kustomize wraps the base64 of a generated Secret value every 70 characters.
BASE64_LINE_LENGTH = 70


class KustomizeError(Exception):
    """The kustomization is invalid, or uses something this renderer does not implement."""


@dataclass
class _Resource:
    manifest: Manifest
    # A generated ConfigMap or Secret: its name gets the content hash once the build is done.
    generated: bool = False

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        namespace = self.manifest["metadata"].get("namespace")
        return None if namespace is None else str(namespace)


def render(directory: Path) -> list[Manifest]:
    """Build the kustomization in `directory`, like `kustomize build directory`."""
    resources = _build(directory.resolve())
    _add_hash_suffixes(resources)
    return [resource.manifest for resource in resources]


def _build(directory: Path) -> list[_Resource]:
    kustomization = _load_kustomization(directory)
    resources: list[_Resource] = []
    for entry in kustomization.get("resources", []):
        resources.extend(_load_resource(directory, str(entry)))

    for spec in kustomization.get("configMapGenerator", []):
        _generate(resources, _config_map(spec, directory), spec)
    for spec in kustomization.get("secretGenerator", []):
        _generate(resources, _secret(spec, directory), spec)
    # The order kustomize applies its built-in transformers in.
    for entry in kustomization.get("patches", []):
        _patch(resources, entry, directory)
    if "namespace" in kustomization:
        _set_namespace(resources, str(kustomization["namespace"]))
    for entry in kustomization.get("labels", []):
        _add_labels(resources, entry)
    for entry in kustomization.get("replicas", []):
        _set_replicas(resources, entry)
    for entry in kustomization.get("images", []):
        _set_image(resources, entry)

    _check_unique(resources, directory)
    return resources


def _load_kustomization(directory: Path) -> dict[str, Any]:
    for filename in KUSTOMIZATION_FILES:
        path = directory / filename
        if path.is_file():
            break
    else:
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(kustomization, dict):
        raise KustomizeError(f"{path}: not a mapping")
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise KustomizeError(f"{path}: fields not supported here: {sorted(unsupported)}")
    if kustomization.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{path}: kind must be Kustomization")
    return kustomization


def _load_resource(directory: Path, entry: str) -> list[_Resource]:
    path = directory / entry
    if path.is_dir():
        return _build(path.resolve())
    if not path.is_file():
        raise KustomizeError(f"{directory}: resource {entry!r} does not exist")
    resources = []
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if document is None:
            continue
        if not isinstance(document, dict) or not {"apiVersion", "kind", "metadata"} <= set(
            document
        ):
            raise KustomizeError(f"{path}: every document needs apiVersion, kind and metadata")
        if document["kind"] not in SUPPORTED_KINDS:
            raise KustomizeError(f"{path}: kind {document['kind']} is not supported here")
        resources.append(_Resource(document))
    return resources


# Generators ------------------------------------------------------------------------------------


def _generator_data(spec: dict[str, Any], directory: Path, allowed: set[str]) -> dict[str, str]:
    unsupported = set(spec) - allowed
    if unsupported:
        raise KustomizeError(f"generator {spec.get('name')!r}: unsupported {sorted(unsupported)}")
    pairs: list[tuple[str, str]] = []
    for literal in spec.get("literals", []):
        key, value = _split_pair(str(literal), f"literal {literal!r}")
        # kustomize drops one pair of matching quotes around a literal's value.
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((key, value))
    for env_file in spec.get("envs", []):
        pairs.extend(_read_env_file(directory / str(env_file)))
    data: dict[str, str] = {}
    for key, value in pairs:
        if key in data:
            raise KustomizeError(f"generator {spec['name']!r}: key {key} given twice")
        data[key] = value
    return data


def _read_env_file(path: Path) -> Iterator[tuple[str, str]]:
    """KEY=VALUE lines as kustomize reads them: '#' comments, value taken verbatim."""
    if not path.is_file():
        raise KustomizeError(f"env file {path} does not exist")
    text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.lstrip()
        if not line or line.startswith("#"):
            continue
        # kustomize would read a bare KEY from its own environment: not reproducible in a test.
        yield _split_pair(line, f"{path}:{number}")


def _split_pair(text: str, where: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise KustomizeError(f"{where}: expected KEY=VALUE")
    return key, value


def _config_map(spec: dict[str, Any], directory: Path) -> Manifest:
    data = _generator_data(spec, directory, {"name", "behavior", "envs", "literals"})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": str(spec["name"])},
        "data": data,
    }


def _secret(spec: dict[str, Any], directory: Path) -> Manifest:
    data = _generator_data(spec, directory, {"name", "behavior", "envs", "literals", "type"})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": str(spec["name"])},
        "type": str(spec.get("type", "Opaque")),
        "data": {key: _encode_base64(value) for key, value in data.items()},
    }


def _encode_base64(value: str) -> str:
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    if len(encoded) < BASE64_LINE_LENGTH:
        return encoded
    return "".join(
        encoded[start : start + BASE64_LINE_LENGTH] + "\n"
        for start in range(0, len(encoded), BASE64_LINE_LENGTH)
    )


def _generate(resources: list[_Resource], generated: Manifest, spec: dict[str, Any]) -> None:
    behavior = spec.get("behavior", "create")
    kind, name = generated["kind"], generated["metadata"]["name"]
    existing = [r for r in resources if r.kind == kind and r.name == name]
    if behavior == "create":
        if existing:
            raise KustomizeError(f"{kind} {name} exists already: use behavior merge or replace")
        resources.append(_Resource(generated, generated=True))
        return
    if behavior not in ("merge", "replace"):
        raise KustomizeError(f"{kind} {name}: unknown behavior {behavior!r}")
    if len(existing) != 1:
        raise KustomizeError(f"{kind} {name}: behavior {behavior} needs exactly one to change")
    target = existing[0].manifest
    if behavior == "merge":
        target.setdefault("data", {}).update(generated["data"])
    else:
        target["data"] = generated["data"]


# Transformers ----------------------------------------------------------------------------------


def _patch(resources: list[_Resource], entry: dict[str, Any], directory: Path) -> None:
    unsupported = set(entry) - {"path", "patch", "target"}
    if unsupported:
        raise KustomizeError(f"patch: unsupported {sorted(unsupported)}")
    if "path" in entry:
        text = (directory / str(entry["path"])).read_text(encoding="utf-8")
    else:
        text = str(entry["patch"])
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise KustomizeError(f"patch {entry}: one strategic-merge mapping expected (no JSON 6902)")
    patch: Manifest = documents[0]

    target = entry.get("target")
    if target is not None:
        unsupported = set(target) - {"kind", "name", "namespace"}
        if unsupported:
            raise KustomizeError(f"patch target: unsupported {sorted(unsupported)}")
        wanted = dict(target)
    else:
        wanted = {"kind": patch.get("kind"), "name": patch.get("metadata", {}).get("name")}
    matches = [
        r
        for r in resources
        if r.kind == wanted.get("kind", r.kind)
        and r.name == wanted.get("name", r.name)
        and r.namespace == wanted.get("namespace", r.namespace)
        and (target is not None or r.manifest["apiVersion"] == patch.get("apiVersion"))
    ]
    if not matches:
        raise KustomizeError(f"patch {entry}: no resource matches {wanted}")

    body = {key: value for key, value in patch.items() if key not in ("apiVersion", "kind")}
    metadata = {k: v for k, v in body.pop("metadata", {}).items() if k not in ("name", "namespace")}
    if metadata:
        body["metadata"] = metadata
    for resource in matches:
        _merge_maps(resource.manifest, body, where=f"{resource.kind}/{resource.name}")


def _merge_maps(base: dict[str, Any], patch: dict[str, Any], *, where: str) -> None:
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict):
            current = base.get(key)
            if not isinstance(current, dict):
                current = base[key] = {}
            _merge_maps(current, value, where=f"{where}.{key}")
        elif isinstance(value, list):
            raise KustomizeError(f"{where}.{key}: patching lists is not supported here")
        else:
            base[key] = copy.deepcopy(value)


def _set_namespace(resources: list[_Resource], namespace: str) -> None:
    for resource in resources:
        metadata = resource.manifest["metadata"]
        if resource.kind == "Namespace":
            metadata["name"] = namespace
        elif resource.kind not in CLUSTER_SCOPED_KINDS:
            metadata["namespace"] = namespace


def _add_labels(resources: list[_Resource], entry: dict[str, Any]) -> None:
    unsupported = set(entry) - {"pairs", "includeTemplates", "includeSelectors"}
    if unsupported or entry.get("includeSelectors"):
        raise KustomizeError(f"labels: only pairs and includeTemplates are supported: {entry}")
    pairs = {str(key): str(value) for key, value in entry.get("pairs", {}).items()}
    for resource in resources:
        manifest = resource.manifest
        manifest["metadata"].setdefault("labels", {}).update(pairs)
        if not entry.get("includeTemplates"):
            continue
        for template in _templates(manifest):
            template.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _set_replicas(resources: list[_Resource], entry: dict[str, Any]) -> None:
    matches = [r for r in resources if r.kind in SCALABLE_KINDS and r.name == entry["name"]]
    if not matches:
        raise KustomizeError(f"replicas: no workload named {entry['name']!r}")
    for resource in matches:
        resource.manifest["spec"]["replicas"] = int(entry["count"])


def _set_image(resources: list[_Resource], entry: dict[str, Any]) -> None:
    unsupported = set(entry) - {"name", "newName", "newTag", "digest"}
    if unsupported:
        raise KustomizeError(f"images: unsupported {sorted(unsupported)}")
    found = False
    for resource in resources:
        for container in _containers(resource.manifest):
            name, tag, digest = split_image(str(container["image"]))
            if name != entry["name"]:
                continue
            found = True
            name = str(entry.get("newName", name))
            if "digest" in entry:
                container["image"] = f"{name}@{entry['digest']}"
            elif "newTag" in entry:
                container["image"] = f"{name}:{entry['newTag']}"
            else:
                container["image"] = (
                    name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
                )
    if not found:
        raise KustomizeError(f"images: no container uses {entry['name']!r}")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`registry:5000/repo/name:tag@digest` into name, tag and digest."""
    name, _, digest = image.partition("@")
    repository, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        name = repository
    else:
        tag = ""
    return name, tag or None, digest or None


def _check_unique(resources: list[_Resource], directory: Path) -> None:
    seen: set[tuple[str, str | None, str]] = set()
    for resource in resources:
        key = (resource.kind, resource.namespace, resource.name)
        if key in seen:
            raise KustomizeError(f"{directory}: {key} is defined twice")
        seen.add(key)


# Name suffixes and references ------------------------------------------------------------------


def content_hash(manifest: Manifest) -> str:
    """kustomize's name suffix for a generated ConfigMap or Secret (api/hasher).

    kustomize looks the name up under a path that never matches, so the name it hashes is
    always empty; it is kept that way here to produce the same suffixes.
    """
    encoded: dict[str, Any] = {"kind": manifest["kind"], "name": "", "data": manifest["data"]}
    if manifest["kind"] == "Secret":
        encoded["type"] = manifest.get("type", "")
    digest = hashlib.sha256(_go_json(encoded).encode("utf-8")).hexdigest()
    return digest[:10].translate(str.maketrans("013ae", "ghkmt"))


def _go_json(value: Any) -> str:
    """JSON the way Go's encoding/json writes a map: sorted keys, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for character, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(character, escaped)
    return text


def _add_hash_suffixes(resources: list[_Resource]) -> None:
    renamed: dict[tuple[str, str | None, str], str] = {}
    for resource in resources:
        if resource.generated:
            new_name = f"{resource.name}-{content_hash(resource.manifest)}"
            renamed[(resource.kind, resource.namespace, resource.name)] = new_name
            resource.manifest["metadata"]["name"] = new_name
    for resource in resources:
        namespace = resource.namespace
        for pod_spec in _pod_specs(resource.manifest):
            for kind, holder, field in _references(pod_spec):
                reference = (kind, namespace, holder[field])
                if reference in renamed:
                    holder[field] = renamed[reference]


def _references(pod_spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every (kind, mapping, key) in a pod spec that names a ConfigMap or Secret."""
    for volume in pod_spec.get("volumes", []):
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"], "name"
        if "secret" in volume:
            yield "Secret", volume["secret"], "secretName"
        for source in volume.get("projected", {}).get("sources", []):
            if "configMap" in source:
                yield "ConfigMap", source["configMap"], "name"
            if "secret" in source:
                yield "Secret", source["secret"], "name"
    for pull_secret in pod_spec.get("imagePullSecrets", []):
        yield "Secret", pull_secret, "name"
    for container in _pod_containers(pod_spec):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"], "name"
            if "secretRef" in source:
                yield "Secret", source["secretRef"], "name"
        for variable in container.get("env", []):
            value_from = variable.get("valueFrom", {})
            if "configMapKeyRef" in value_from:
                yield "ConfigMap", value_from["configMapKeyRef"], "name"
            if "secretKeyRef" in value_from:
                yield "Secret", value_from["secretKeyRef"], "name"


def _templates(manifest: Manifest) -> list[dict[str, Any]]:
    """The pod templates of a workload (a CronJob's job template counts as one too)."""
    spec = manifest.get("spec", {})
    if manifest["kind"] in TEMPLATED_KINDS:
        return [spec.setdefault("template", {})]
    if manifest["kind"] == "CronJob":
        job_template = spec.setdefault("jobTemplate", {})
        return [job_template, job_template.setdefault("spec", {}).setdefault("template", {})]
    return []


def _pod_specs(manifest: Manifest) -> list[dict[str, Any]]:
    spec = manifest.get("spec", {})
    if manifest["kind"] in TEMPLATED_KINDS:
        return [spec["template"]["spec"]]
    if manifest["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def _pod_containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *pod_spec.get("initContainers", []),
        *pod_spec.get("containers", []),
        *pod_spec.get("ephemeralContainers", []),
    ]


def _containers(manifest: Manifest) -> list[dict[str, Any]]:
    return [c for pod_spec in _pod_specs(manifest) for c in _pod_containers(pod_spec)]
