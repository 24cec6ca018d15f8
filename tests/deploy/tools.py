"""The real tools the deploy tests use: kustomize, and the CRDs of the custom resources.

`deploy/local/install.sh` builds kustomize into .cache/bin and copies the KEDA and
prometheus-operator CRDs into .cache/crds (both from the Go module proxy). A test that needs
one skips, saying which, when it is absent; CI runs the install first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("DOCFLOW_CACHE", ROOT / ".cache"))

Manifest = dict[str, Any]


class KustomizeError(Exception):
    """`kustomize build` failed; the message is its stderr."""


def kustomize() -> str:
    """The kustomize binary install.sh built, else one on PATH; skips the test without one."""
    built = CACHE / "bin" / "kustomize"
    if built.is_file():
        return str(built)
    found = shutil.which("kustomize")
    if found is None:
        pytest.skip(f"kustomize is not installed: run deploy/local/install.sh (builds {built})")
    return found


def render(directory: Path) -> list[Manifest]:
    """`kustomize build DIRECTORY`, parsed."""
    completed = subprocess.run(
        [kustomize(), "build", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise KustomizeError(completed.stderr.strip())
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc]


@cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) to the openAPIV3Schema of each served version of each CRD."""
    folder = CACHE / "crds"
    if not (folder / ".complete").is_file():
        pytest.skip(f"the CRDs are not fetched: run deploy/local/install.sh (fills {folder})")
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = version["schema"]["openAPIV3Schema"]
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def crd_kinds() -> set[tuple[str, str]]:
    return set(_crd_schemas())


def crd_errors(manifest: Manifest) -> list[str]:
    """Where `manifest` breaks its CRD's schema (unknown fields included, as the API server
    prunes them); raises KeyError for a kind no fetched CRD defines."""
    schema = _strict(_crd_schemas()[(manifest["apiVersion"], manifest["kind"])])
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with additionalProperties false wherever it lists properties and does not
    keep unknown fields: the API server would drop such a field silently, a test refuses it."""
    strict = dict(schema)
    if "properties" in strict:
        strict["properties"] = {name: _strict(sub) for name, sub in strict["properties"].items()}
        if "additionalProperties" not in strict and not strict.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            strict["additionalProperties"] = False
    if isinstance(strict.get("items"), dict):
        strict["items"] = _strict(strict["items"])
    if isinstance(strict.get("additionalProperties"), dict):
        strict["additionalProperties"] = _strict(strict["additionalProperties"])
    return strict


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`registry:5000/repo/name:tag@digest` into name, tag and digest."""
    name, _, digest = image.partition("@")
    repository, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        name = repository
    else:
        tag = ""
    return name, tag or None, digest or None
