"""`docflow-reanalyze`: re-queue documents for analysis, paying only for what changed.

    docflow-reanalyze --id 3f0c... [--id ...]        # one document (or a few)
    docflow-reanalyze --status failed                # after fixing what failed them
    docflow-reanalyze --tenant acme --before 2026-01-01
    docflow-reanalyze --outdated                     # after a new PROMPT_VERSION or model
    docflow-reanalyze --prompt-version-not current --dry-run
    docflow-reanalyze --model-not gpt-4o-mini --force

A document whose analysis already has the current PROMPT_VERSION and model is skipped unless
`--force`: re-queuing it would change nothing. For each document re-queued, the analysis that
would make analysis skip it (same prompt version, another model; any with --force) is deleted,
a `failed` one goes back to `queued`, then DocumentIngested is published the way ingest
publishes it (`docflow.common.publishing`). Analysis then analyzes it (or copies the analysis
of identical content made by the current model and prompt), and replaces the analysis the
document shows. Redeliveries of these events cost nothing: the new analysis is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from docflow.analysis.analyses import repository
from docflow.analysis.providers.factory import current_model
from docflow.analysis.settings import AnalysisSettings
from docflow.common.clients import MongoDocument, create_mongo_client, mongo_database
from docflow.common.context import new_request_id
from docflow.common.documents import DocumentStatus
from docflow.common.events import DocumentIngested, utc_now
from docflow.common.publishing import OutgoingEvent, ingested_publisher
from docflow.common.settings import load_settings

_PUBLISH_TIMEOUT_S = 30.0
_LISTED = 50  # documents named in the output; the count covers them all
CURRENT = "current"  # --prompt-version-not current / --model-not current


@dataclass(frozen=True, slots=True)
class Criteria:
    """Which documents; every given criterion must hold."""

    ids: tuple[str, ...] = ()
    status: DocumentStatus | None = None
    tenant: str | None = None
    before: datetime | None = None
    prompt_version_not: str | None = None
    model_not: str | None = None
    outdated: bool = False

    def mongo_filter(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if self.ids:
            where["_id"] = {"$in": list(self.ids)}
        if self.status is not None:
            where["status"] = self.status.value
        if self.tenant is not None:
            where["tenant_id"] = self.tenant
        if self.before is not None:
            where["created_at"] = {"$lt": self.before}
        return where


@dataclass(slots=True)
class Plan:
    requeue: list[MongoDocument] = field(default_factory=list)
    up_to_date: list[MongoDocument] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Current:
    prompt_version: str
    model: str

    def resolve(self, criteria: Criteria) -> Criteria:
        """`current` in a `--...-not` filter means this deployment's value."""
        return Criteria(
            ids=criteria.ids,
            status=criteria.status,
            tenant=criteria.tenant,
            before=criteria.before,
            prompt_version_not=self.prompt_version
            if criteria.prompt_version_not == CURRENT
            else criteria.prompt_version_not,
            model_not=self.model if criteria.model_not == CURRENT else criteria.model_not,
            outdated=criteria.outdated,
        )

    def shown_by(self, document: MongoDocument) -> bool:
        """The document shows an analysis of the current prompt version and model."""
        analysis = document.get("analysis") or {}
        return bool(
            document.get("status") == DocumentStatus.ANALYZED.value
            and analysis.get("prompt_version") == self.prompt_version
            and analysis.get("model") == self.model
        )


def plan(
    documents: Sequence[MongoDocument], *, criteria: Criteria, current: Current, force: bool
) -> Plan:
    """Sort the candidates into those to re-queue and those already up to date."""
    result = Plan()
    for document in documents:
        analysis = document.get("analysis") or {}
        if criteria.prompt_version_not is not None and (
            analysis.get("prompt_version") == criteria.prompt_version_not
        ):
            continue
        if criteria.model_not is not None and analysis.get("model") == criteria.model_not:
            continue
        if current.shown_by(document):
            if not force:
                result.up_to_date.append(document)
                continue
        elif criteria.outdated and not analysis:
            continue  # never analyzed: not outdated (--status queued/failed selects those)
        result.requeue.append(document)
    return result


async def requeue(
    settings: AnalysisSettings, *, criteria: Criteria, force: bool, dry_run: bool, limit: int
) -> Plan:
    """Re-queue the documents `criteria` select that need it; returns the plan carried out."""
    current = Current(prompt_version=settings.prompt_version, model=current_model(settings))
    criteria = current.resolve(criteria)
    mongo: Any = create_mongo_client(settings)
    try:
        db = mongo_database(mongo, settings)
        candidates = await repository.reanalysis_candidates(
            db, where=criteria.mongo_filter(), limit=limit
        )
        chosen = plan(candidates, criteria=criteria, current=current, force=force)
        if chosen.requeue and not dry_run:
            await _carry_out(settings, db, chosen.requeue, current=current, force=force)
        return chosen
    finally:
        await mongo.close()


class RequeueIncomplete(RuntimeError):
    """Kafka did not acknowledge every event; running the command again finishes the job."""


async def _carry_out(
    settings: AnalysisSettings,
    db: Any,
    documents: list[MongoDocument],
    *,
    current: Current,
    force: bool,
) -> None:
    ids = [str(document["_id"]) for document in documents]
    # Persist first, publish second: the event must find the document ready to analyze.
    await repository.retire_analyses(
        db,
        document_ids=ids,
        prompt_version=current.prompt_version,
        keep_model=None if force else current.model,
    )
    await repository.requeue_failed(db, document_ids=ids, now=utc_now())
    events = [
        OutgoingEvent(
            DocumentIngested(
                document_id=str(document["_id"]),
                tenant_id=str(document.get("tenant_id")),
                content_hash=str(document.get("content_hash") or ""),
            ),
            request_id=new_request_id(),
        )
        for document in documents
    ]
    publisher = ingested_publisher(settings, timeout_s=_PUBLISH_TIMEOUT_S)
    await publisher.start()
    try:
        published = await publisher.publish_all(events)
    finally:
        await publisher.stop()
    if published < len(events):
        raise RequeueIncomplete(f"{len(events) - published} of {len(events)} events not published")


def _date(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docflow-reanalyze",
        description=__doc__.split("\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[1:]) if __doc__ else None,
    )
    parser.add_argument("--id", action="append", default=[], help="a document id (repeatable)")
    parser.add_argument("--status", type=DocumentStatus, choices=list(DocumentStatus))
    parser.add_argument("--tenant", help="documents of this tenant")
    parser.add_argument("--before", type=_date, help="created before (ISO date or time, UTC)")
    parser.add_argument("--prompt-version-not", help="analysis not of this version ('current')")
    parser.add_argument("--model-not", help="analysis not by this model ('current')")
    parser.add_argument("--outdated", action="store_true", help="prompt version or model old")
    parser.add_argument("--all", action="store_true", help="every document (no filter given)")
    parser.add_argument("--force", action="store_true", help="also those already up to date")
    parser.add_argument("--dry-run", action="store_true", help="say what would be re-queued")
    parser.add_argument("--limit", type=int, default=100_000, help="most documents (100000)")
    return parser


def criteria_of(args: argparse.Namespace) -> Criteria:
    return Criteria(
        ids=tuple(args.id),
        status=args.status,
        tenant=args.tenant,
        before=args.before,
        prompt_version_not=args.prompt_version_not,
        model_not=args.model_not,
        outdated=args.outdated,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    criteria = criteria_of(args)
    if criteria == Criteria() and not args.all:
        sys.exit("docflow-reanalyze: choose documents (see --help), or --all")
    settings = load_settings(AnalysisSettings)
    try:
        chosen = asyncio.run(
            requeue(
                settings,
                criteria=criteria,
                force=args.force,
                dry_run=args.dry_run,
                limit=args.limit,
            )
        )
    except RequeueIncomplete as exc:
        sys.exit(f"docflow-reanalyze: {exc}; run it again")
    verb = "would re-queue" if args.dry_run else "re-queued"
    print(
        f"{verb} {len(chosen.requeue)}; skipped {len(chosen.up_to_date)} already analyzed with "
        f"prompt {settings.prompt_version} and model {current_model(settings)} (--force re-queues)"
    )
    for document in chosen.requeue[:_LISTED]:
        print(f"  {document['_id']}  {document.get('status')}  tenant {document.get('tenant_id')}")


if __name__ == "__main__":
    main()
