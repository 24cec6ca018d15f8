"""`make images` (deploy/images.sh) picks the first OCI builder that can build, tags each service's
image with the commit and `latest`, and skips with exit 0 where none can.

The builders here are fakes on PATH ahead of any real one (so a machine with Docker builds
nothing): each answers `info` as told and records the other calls it gets.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy/images.sh"
CLIENTS = ("docker", "podman", "buildah", "nerdctl")
SERVICES = ("ingest", "query", "analysis")


def run_images(
    tmp_path: Path, *, can_build: set[str], env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs the script with fake clients (those in `can_build` answer `info`, and docker has
    buildx); returns the run and the calls that were not `info`, one line each."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for client in CLIENTS:
        fake = bin_dir / client
        info_rc = 0 if client in can_build else 1
        fake.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = info ]; then exit {info_rc}; fi\n'
            f'echo "{client} $*" >> "{calls}"\n',
            encoding="utf-8",
        )
        fake.chmod(0o755)
    completed = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "KANIKO_EXECUTOR": str(tmp_path / "no-kaniko"),
            **(env or {}),
        },
    )
    recorded = calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []
    return completed, recorded


def test_no_builder_skips_cleanly_and_says_why(tmp_path: Path) -> None:
    completed, calls = run_images(tmp_path, can_build=set())
    assert completed.returncode == 0, completed.stderr
    assert "skipped, no OCI builder can build here" in completed.stdout
    # The clients that are installed but have no engine are named, docker's CLI alone included.
    assert "docker podman buildah nerdctl" in completed.stdout.splitlines()[1]
    assert calls == []


def test_the_first_builder_that_can_build_builds_every_image(tmp_path: Path) -> None:
    completed, calls = run_images(tmp_path, can_build={"podman", "buildah"})
    assert completed.returncode == 0, completed.stderr
    assert [call.split()[:2] for call in calls] == [["podman", "build"]] * len(SERVICES)
    for service, call in zip(SERVICES, calls, strict=True):
        assert f"--build-arg SERVICE={service} --file Dockerfile" in call
        assert re.search(rf"--tag docflow-{service}:[0-9a-f]{{7,}}(-dirty)? ", call), call
        assert call.endswith(f"--tag docflow-{service}:latest .")


def test_docker_builds_with_buildx_into_the_local_store(tmp_path: Path) -> None:
    completed, calls = run_images(tmp_path, can_build={"docker", "podman"})
    assert completed.returncode == 0, completed.stderr
    builds = [call for call in calls if " build " in f"{call} "]
    assert len(builds) == len(SERVICES)
    assert all(call.startswith("docker buildx build --load ") for call in builds)


def test_a_chosen_builder_that_cannot_build_fails(tmp_path: Path) -> None:
    completed, calls = run_images(tmp_path, can_build={"podman"}, env={"IMAGE_BUILDER": "docker"})
    assert completed.returncode == 1
    assert "IMAGE_BUILDER=docker cannot build here" in completed.stderr
    assert calls == []


def test_an_unknown_builder_is_refused(tmp_path: Path) -> None:
    completed, _ = run_images(tmp_path, can_build={"podman"}, env={"IMAGE_BUILDER": "bazel"})
    assert completed.returncode == 2
    assert "none of: docker podman buildah nerdctl kaniko" in completed.stderr
