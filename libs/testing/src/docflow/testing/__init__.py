"""Helpers for docflow's integration and end-to-end tests.

They talk to the real Kafka, FerretDB and Redis started by `deploy/local/infra.sh`; each test
gets its own topic suffix, database and Redis key prefix, so tests never see each other's data.
"""

from docflow.testing.identity import (
    api_key_for,
    bearer,
    create_api_key,
    static_authenticator,
)
from docflow.testing.isolation import Isolation, new_isolation
from docflow.testing.kafka import collect_messages, produce_raw
from docflow.testing.logs import json_log_lines
from docflow.testing.metrics import Scrape, scrape, scrape_until
from docflow.testing.process import ServiceProcess, free_port
from docflow.testing.servers import FERRETDB_BIN, OwnServer, ferretdb_server, redis_server

__all__ = [
    "FERRETDB_BIN",
    "Isolation",
    "OwnServer",
    "Scrape",
    "ServiceProcess",
    "api_key_for",
    "bearer",
    "collect_messages",
    "create_api_key",
    "ferretdb_server",
    "free_port",
    "json_log_lines",
    "new_isolation",
    "produce_raw",
    "redis_server",
    "scrape",
    "scrape_until",
    "static_authenticator",
]
