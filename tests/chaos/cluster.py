"""A whole docflow of its own for the fault drill: Kafka, FerretDB, Redis, the fake OpenAI server
and the three services, each a process the drill can SIGKILL and start again on the same port.

Nothing is shared with the machine's infrastructure (`make run`'s or the test suite's): killing
this Kafka or this FerretDB disturbs no one else. Like Kubernetes, the drill restarts only the
component it killed; the others keep running and must find their way back by themselves.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from docflow.testing import (
    OwnServer,
    ServiceProcess,
    create_api_key,
    ferretdb_server,
    free_port,
    redis_server,
)
from docflow.testing.servers import REPO

Component = Literal["ingest", "analysis", "query", "kafka", "ferretdb", "redis"]
SERVICES: tuple[Component, ...] = ("ingest", "analysis", "query")
DATABASE = "chaos"
FAKE_OPENAI = REPO / "tests" / "fakes" / "openai_server.py"
KAFKA_SCRIPT = REPO / "deploy" / "local" / "kafka.sh"


def kafka_server(workdir: Path, *, port: int) -> OwnServer:
    """A single-node KRaft broker through deploy/local/kafka.sh, with its own data directory.

    Class-data sharing is off so that the script `exec`s the JVM: a SIGKILL reaches the broker
    itself, not a shell in front of it.
    """
    env = {
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_DATA": str(workdir / "kafka"),
        "KAFKA_CDS": "0",
        "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_OFFSETS_PARTITIONS": "3",
    }
    command = ["bash", str(KAFKA_SCRIPT)]
    return OwnServer("kafka", command, port=port, log_path=workdir / "kafka.log", env=env)


def fake_openai_server(workdir: Path, *, port: int) -> OwnServer:
    command = [sys.executable, str(FAKE_OPENAI), "--port", str(port), "--latency-ms", "150"]
    return OwnServer("fake-openai", command, port=port, log_path=workdir / "fake-openai.log")


@dataclass
class Cluster:
    workdir: Path
    kafka: OwnServer
    ferretdb: OwnServer
    redis: OwnServer
    fake: OwnServer
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def mongodb_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.ferretdb.port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka.port}"

    @property
    def fake_url(self) -> str:
        return f"http://127.0.0.1:{self.fake.port}"

    def url(self, service: str) -> str:
        return self.services[service].url

    # ---- life cycle -----------------------------------------------------------------------

    @classmethod
    def create(cls, workdir: Path, *, env: dict[str, str] | None = None) -> Cluster:
        workdir.mkdir(parents=True, exist_ok=True)
        cluster = cls(
            workdir=workdir,
            kafka=kafka_server(workdir, port=free_port()),
            ferretdb=ferretdb_server(workdir, port=free_port()),
            redis=redis_server(workdir, port=free_port()),
            fake=fake_openai_server(workdir, port=free_port()),
        )
        service_env = cluster._service_env(env or {})
        for name in SERVICES:
            cluster.services[name] = ServiceProcess(
                name, env=service_env, port=free_port(), log_path=workdir / f"{name}.log"
            )
        return cluster

    def _service_env(self, extra: dict[str, str]) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_SUFFIX": "",
            "KAFKA_TOPIC_PARTITIONS": "3",
            "MONGODB_URI": self.mongodb_uri,
            "MONGODB_DATABASE": DATABASE,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "REDIS_KEY_PREFIX": "chaos",
            "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": f"{self.fake_url}/v1",
            "OPENAI_API_KEY": "chaos-drill-key-for-the-fake-server",
            "QUOTA_PROBE_INTERVAL_S": "5",
            "CONSUMER_BATCH_TIMEOUT_MS": "200",
            "RATE_LIMIT_DEFAULT": "100000/minute",
            "RATE_LIMIT_UPLOAD": "100000/minute",
            "TENANT_DOCUMENTS_PER_DAY": "10000000",
            "OTEL_SDK_DISABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
            "LOG_LEVEL": "INFO",
            **extra,
        }

    def start(self) -> Cluster:
        for server in (self.kafka, self.ferretdb, self.redis, self.fake):
            server.start(timeout_s=180)
        for name in SERVICES:
            self.services[name].start(ready_timeout_s=180)
        return self

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        for server in (self.fake, self.redis, self.ferretdb, self.kafka):
            server.stop()

    def kill(self, component: Component) -> None:
        if component in SERVICES:
            self.services[component].kill()
        else:
            self._server(component).kill()

    def terminate(self, component: Component) -> None:
        """SIGTERM: the orderly stop Kubernetes sends first."""
        if component in SERVICES:
            self.services[component].stop(timeout_s=60)
        else:
            self._server(component).stop()

    def restart(self, component: Component) -> None:
        if component in SERVICES:
            self.services[component].start(ready_timeout_s=180)
        else:
            self._server(component).start(timeout_s=180)

    def _server(self, component: Component) -> OwnServer:
        servers = {"kafka": self.kafka, "ferretdb": self.ferretdb, "redis": self.redis}
        return servers[component]

    def pid(self, service: str) -> int | None:
        process = self.services[service].process
        return process.pid if process is not None and process.poll() is None else None

    # ---- what the drill asks of it ----------------------------------------------------------

    async def api_key(self, tenant: str) -> str:
        return await create_api_key(
            mongodb_uri=self.mongodb_uri, database=DATABASE, tenant=tenant, name="chaos"
        )

    def fake_admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET (or POST `body` to) the fake's /_admin/<path>."""
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(
            f"{self.fake_url}/_admin/{path}",
            data=data,
            headers={"Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return orjson.loads(response.read())

    def rss_mb(self, service: str) -> float | None:
        """Resident memory of the service's process tree (its extraction workers included)."""
        pid = self.pid(service)
        if pid is None:
            return None
        total = 0
        for tree_pid in _tree(pid):
            try:
                for line in Path(f"/proc/{tree_pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids.extend(_tree(int(child)))
    return pids


async def in_thread(function: Any, *args: Any) -> Any:
    """Run a blocking start/stop off the event loop, so the traffic keeps flowing meanwhile."""
    return await asyncio.to_thread(function, *args)
