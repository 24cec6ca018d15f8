"""Running a service as a real subprocess, as `make run` would, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """`python -c 'from docflow.<service>.main import run; run()'` with extra env vars, or
    `command` instead (a wrapper that ends by calling that `run`, e.g. under a profiler)."""

    def __init__(
        self,
        service: str,
        *,
        env: dict[str, str],
        port: int,
        log_path: Path,
        command: list[str] | None = None,
        ops_port: int | None = None,
    ) -> None:
        self.service = service
        entry = f"from docflow.{service}.main import run; run()"
        self.command = command or [sys.executable, "-c", entry]
        self.port = port
        # A free one unless given: the default (9101-9103) may belong to `make run`.
        self.ops_port = ops_port or free_port()
        self.env = {**os.environ, **env, "HTTP_PORT": str(port), "OPS_PORT": str(self.ops_port)}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        """The operations port: /health/ready, /health/detailed, /metrics."""
        return f"http://127.0.0.1:{self.ops_port}"

    def start(self, *, ready_timeout_s: float = 60.0) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.service} exited early:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        # `with` skips __exit__ when __enter__ raises: stop it here, or it outlives the test.
        self.stop()
        raise RuntimeError(f"{self.service} not ready after {ready_timeout_s}s:\n{self.tail()}")

    def stop(self, *, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no cleanup, no commit, like a crashed pod."""
        self.stop(sig=signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
