"""Running a service as a real subprocess, as `make run` would, for end-to-end tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

# Ports handed out by free_port, never handed out twice by this process.
_HANDED_OUT: set[int] = set()
# Where free_port looks: below the kernel's ephemeral range and clear of every port docflow and
# its infrastructure listen on (4317-9103, 16686, 27017).
_LOWEST, _HIGHEST = 17000, 27000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port nobody listens on, for a server the caller starts later, maybe much later.

    It is chosen below the kernel's ephemeral range: a port from that range (what binding port 0
    returns) can be taken meanwhile as the local end of any outgoing connection, and the server
    then fails with "Address already in use" (a CI run lost the whole fault drill that way).
    """
    top = min(_ephemeral_range()[0], _HIGHEST)
    for _ in range(200) if top > _LOWEST else ():
        port = random.randrange(_LOWEST, top)
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as sock:  # an unusual port range: fall back to the kernel's choice
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
