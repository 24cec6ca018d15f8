"""Helpers for docflow's integration and end-to-end tests.

They talk to the real Kafka, FerretDB and Redis started by `deploy/local/infra.sh`; each test
gets its own topic suffix, database and Redis key prefix, so tests never see each other's data.
"""

from docflow.common.testing.identity import (
    api_key_for,
    bearer,
    create_api_key,
    static_authenticator,
)
from docflow.common.testing.isolation import Isolation, new_isolation
from docflow.common.testing.kafka import collect_messages, produce_raw
from docflow.common.testing.process import ServiceProcess, free_port
from docflow.common.testing.servers import FERRETDB_BIN, OwnServer, ferretdb_server, redis_server

__all__ = [
    "FERRETDB_BIN",
    "Isolation",
    "OwnServer",
    "ServiceProcess",
    "api_key_for",
    "bearer",
    "collect_messages",
    "create_api_key",
    "ferretdb_server",
    "free_port",
    "new_isolation",
    "produce_raw",
    "redis_server",
    "static_authenticator",
]
