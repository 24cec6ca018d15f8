"""The ingest service's settings: the shared ones plus its limits and background intervals."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from docflow.common.settings import CommonSettings

KIB = 1024
MIB = 1024 * KIB
# The most UTF-8 spends on a character of the Basic Multilingual Plane, sent unescaped.
_BYTES_PER_CHAR = 3
# Room for everything beside the content: title, source, ids, 50 metadata values, JSON syntax.
_JSON_OVERHEAD_BYTES = 256 * KIB


class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    http_port: int = Field(default=8001, ge=1, le=65535)
    ops_port: int = Field(default=9101, ge=1, le=65535)

    # Limits on what one document may hold. Content is counted in characters after sanitization.
    max_content_chars: int = Field(default=1_000_000, ge=1)
    max_title_chars: int = Field(default=500, ge=1)
    max_field_chars: int = Field(default=256, ge=1, description="source, external_id")
    max_metadata_keys: int = Field(default=50, ge=0)
    max_metadata_key_chars: int = Field(default=64, ge=1)
    max_metadata_value_chars: int = Field(default=1000, ge=1)
    max_batch_items: int = Field(default=100, ge=1)

    # Request bodies are refused with 413 as soon as they pass these sizes, before parsing.
    # 0: derived from max_content_chars (3 bytes a character plus 256 KiB; ~3.3 MB for 1M).
    max_json_body_bytes: int = Field(default=0, ge=0)
    max_batch_body_bytes: int = Field(default=32 * MIB, ge=1024)
    max_upload_bytes: int = Field(default=10 * MIB, ge=1024)
    # A Kafka message larger than this is dead-lettered without being parsed.
    max_message_bytes: int = Field(default=8 * MIB, ge=1024)

    # Content beyond this many characters is sanitized in a thread, within the time budget.
    sanitize_inline_chars: int = Field(default=8 * KIB, ge=0)
    sanitize_workers: int = Field(default=2, ge=1)
    sanitize_timeout_s: float = Field(default=10.0, gt=0)

    # Uploaded files are parsed in worker processes so a hostile file cannot stall the loop.
    extraction_workers: int = Field(default=2, ge=1)
    extraction_timeout_s: float = Field(default=20.0, gt=0)
    pdf_max_pages: int = Field(default=500, ge=1)
    # A worker's address space (RLIMIT_AS); 0: unlimited. A parse that needs more is a 422.
    extraction_memory_bytes: int = Field(default=1024 * MIB, ge=0)
    # A DOCX is a zip: caps on what it may unpack to (zip bombs), stated and counted.
    max_unzipped_bytes: int = Field(default=64 * MIB, ge=MIB, description="all files together")
    max_zip_member_bytes: int = Field(default=32 * MIB, ge=MIB)
    max_zip_members: int = Field(default=1000, ge=1)
    # Uncompressed to compressed, for files over 1 MiB (text XML compresses about 10:1).
    max_zip_ratio: int = Field(default=100, ge=1)

    idempotency_ttl_s: int = Field(default=24 * 3600, ge=1)
    # How long a first request's hold on its Idempotency-Key outlives it (renewed while the
    # request runs): after a crash, a retry with the same key waits at most this long.
    idempotency_lock_s: int = Field(default=10, ge=1)

    # The outbox (documents/outbox.py): failed publishes are retried every sweep, and a
    # replica whose checkpoint is this old is considered stopped and its outbox recovered
    # (seven missed sweeps: a replica wrongly declared dead costs only duplicate events).
    outbox_sweep_interval_s: float = Field(default=2.0, gt=0)
    outbox_dead_after_s: float = Field(default=15.0, gt=0)
    # REST answers once a document is stored and publishes in the background; past this many
    # unacknowledged events (Kafka down) it answers 503 instead of piling up more.
    outbox_max_backlog: int = Field(default=10_000, ge=1)
    # A request waits at most this long for Kafka to acknowledge its event.
    publish_timeout_s: float = Field(default=10.0, gt=0)

    # Uploads cost a parse each, so they get a tighter per-client limit than the default.
    rate_limit_upload: str = "120/minute"
    # New documents one tenant may store through the REST API per UTC day; 0: unlimited.
    tenant_documents_per_day: int = Field(default=0, ge=0)
    # Uploads of one tenant in progress at once in this process; 0: unlimited. More are
    # refused at once (no queue), so one tenant cannot hold every worker and its memory.
    uploads_per_tenant: int = Field(default=4, ge=0)

    # The consumer of documents.incoming (the topic suffix is appended to the group id).
    ingest_consumer_group: str = "docflow-ingest"
    incoming_max_records: int = Field(default=100, ge=1)
    incoming_batch_timeout_ms: int = Field(default=200, ge=1)
    incoming_concurrency: int = Field(default=16, ge=1)
    incoming_retry_base_s: float = Field(default=0.5, gt=0)
    incoming_retry_max_s: float = Field(default=30.0, gt=0)
    # An unexpected error (not an outage) is retried this often before the message is
    # dead-lettered: a poison message must not block its partition.
    incoming_max_attempts: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _derive_json_body_limit(self) -> Self:
        if self.max_json_body_bytes == 0:
            derived = self.max_content_chars * _BYTES_PER_CHAR + _JSON_OVERHEAD_BYTES
            self.max_json_body_bytes = derived
        return self

    @property
    def consumer_group(self) -> str:
        return f"{self.ingest_consumer_group}{self.kafka_topic_suffix}"
