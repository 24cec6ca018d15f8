"""Private FerretDB and Redis servers for tests and benchmarks that must not share the machine's.

A test that stops its store (an outage) or a benchmark that loads it uses a server of its own
on a free port, started from the binaries `deploy/local/install.sh` put in place; the shared
instances are never stopped and never see that load.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

# libs/testing/src/docflow/testing/servers.py -> the repository root (editable install).
REPO = Path(__file__).resolve().parents[5]
FERRETDB_BIN = REPO / ".cache" / "bin" / "ferretdb"
FERRETDB_SCRIPT = REPO / "deploy" / "local" / "ferretdb.sh"


class OwnServer:
    """A server process on a fixed port, so that it can be stopped and started again there."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        port: int,
        log_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.command, self.port, self.log_path = name, command, port, log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 30) -> OwnServer:
        """Start the process and wait until its port accepts connections."""
        log = self.log_path.open("ab")
        env = {**os.environ, **self.env} if self.env else None
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} does not listen on {self.port}; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, like a node losing power: no flush, no goodbye to clients (a SIGTERM'd
        FerretDB, for one, keeps serving the connections it has until they close)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def ferretdb_server(workdir: Path, *, port: int, binary: Path = FERRETDB_BIN) -> OwnServer:
    """A FerretDB (SQLite handler) keeping its data under `workdir`; not started yet.

    It runs through deploy/local/ferretdb.sh, so it has the same flags as `make run`'s.
    """
    env = {
        "FERRETDB_BIN": str(binary),
        "FERRETDB_DATA": str(workdir / "ferretdb"),
        "FERRETDB_PORT": str(port),
    }
    command = ["bash", str(FERRETDB_SCRIPT)]
    return OwnServer("ferretdb", command, port=port, log_path=workdir / "ferretdb.log", env=env)


def redis_server(workdir: Path, *, port: int, password: str | None = None) -> OwnServer:
    """An in-memory redis-server (no snapshots, no append-only file); not started yet.

    With `password`, the default user needs it (`requirepass`).
    """
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    if password is not None:
        command += ["--requirepass", password]
    return OwnServer("redis", command, port=port, log_path=workdir / "redis.log")
