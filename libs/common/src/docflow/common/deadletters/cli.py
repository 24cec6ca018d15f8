"""`docflow-dlq`: look at the dead letters of `documents.dlq` and replay chosen ones.

    docflow-dlq show                                  # counts by source topic and error type
    docflow-dlq show --error-type content_too_large   # ... and those letters with their headers
    docflow-dlq show --offsets 10-20 --partition 3
    docflow-dlq replay --error-type content_too_large --dry-run
    docflow-dlq replay --document-id 3f0c...          # back to the source topic, once each

The topic is `documents.dlq` plus KAFKA_TOPIC_SUFFIX. Reading joins no consumer group and
commits nothing. A replay is recorded in MongoDB (`dlq_replays`, keyed by the dead letter's
partition and offset), so replaying the same selection again sends nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from docflow.common.clients import create_mongo_client, create_producer, mongo_database
from docflow.common.deadletters.letters import (
    SHOWN_HEADERS,
    DeadLetter,
    Selection,
    clip,
    parse_offsets,
    summarize,
)
from docflow.common.deadletters.progress import ProgressBar
from docflow.common.deadletters.reader import read_dead_letters
from docflow.common.deadletters.replay import ReplayReport, replay
from docflow.common.events import Topic
from docflow.common.settings import CommonSettings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docflow-dlq",
        description=__doc__.split("\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[1:]) if __doc__ else None,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="counts, and the chosen letters with their headers")
    replay_ = commands.add_parser("replay", help="send chosen letters back to their source topic")
    for command in (show, replay_):
        command.add_argument("--error-type", help="the error.type header, e.g. validation_error")
        command.add_argument("--source-topic", help="the source.topic header (suffix included)")
        command.add_argument("--partition", type=int, help="the partition of documents.dlq")
        command.add_argument("--offsets", help="offsets in documents.dlq: N, N- or N-M")
        command.add_argument("--document-id", help="the document id the message names")
    show.add_argument("--limit", type=int, default=20, help="most letters printed (20)")
    show.add_argument("--width", type=int, default=160, help="a value is cut to this (160)")
    replay_.add_argument("--dry-run", action="store_true", help="say what would be replayed")
    replay_.add_argument("--all", action="store_true", help="every letter (no criterion given)")
    return parser


def selection_of(args: argparse.Namespace) -> Selection:
    first = last = None
    if args.offsets:
        first, last = parse_offsets(args.offsets)
    return Selection(
        error_type=args.error_type,
        source_topic=args.source_topic,
        partition=args.partition,
        first_offset=first,
        last_offset=last,
        document_id=args.document_id,
    )


def print_summary(letters: Sequence[DeadLetter], *, topic: str) -> None:
    counts = summarize(letters)
    print(f"{topic}: {len(letters)} dead letters")
    if counts:
        print(f"  {'COUNT':>7}  {'SOURCE TOPIC':<36} ERROR TYPE")
    for (source_topic, error_type), count in sorted(counts.items()):
        print(f"  {count:>7}  {source_topic:<36} {error_type}")


def print_letter(letter: DeadLetter, *, width: int) -> None:
    document = f"  document {letter.document_id}" if letter.document_id else ""
    print(f"\n{letter.topic} partition {letter.partition} offset {letter.offset}{document}")
    for name in SHOWN_HEADERS:
        print(f"  {name:<17} {clip(letter.header(name), width)}")
    print(f"  {'value':<17} {clip(letter.value.decode('utf-8', 'replace'), width)}")


async def _show(args: argparse.Namespace, settings: CommonSettings) -> int:
    letters = [letter async for letter in read_dead_letters(settings)]
    print_summary(letters, topic=settings.topic(Topic.DLQ))
    selection = selection_of(args)
    if selection.is_empty:
        return 0
    chosen = [letter for letter in letters if selection.matches(letter)]
    print(f"\n{len(chosen)} match; showing {min(len(chosen), args.limit)}")
    for letter in chosen[: args.limit]:
        print_letter(letter, width=args.width)
    return 0


def print_report(report: ReplayReport, *, dry_run: bool) -> None:
    verb = "would replay" if dry_run else "replayed"
    print(
        f"{verb} {len(report.replayed)}, already replayed {len(report.already_replayed)}, "
        f"refused {len(report.refused)}"
    )
    for letter in report.replayed:
        print(f"  {verb}: {letter.ledger_id} -> {letter.source_topic} ({letter.error_type})")
    for letter, reason in report.refused:
        print(f"  refused: {letter.ledger_id}: {reason}")


async def _replay(args: argparse.Namespace, settings: CommonSettings) -> int:
    selection = selection_of(args)
    if selection.is_empty and not args.all:
        print("docflow-dlq replay: choose letters (see --help), or --all", file=sys.stderr)
        return 2
    chosen = [letter async for letter in read_dead_letters(settings) if selection.matches(letter)]
    mongo: Any = create_mongo_client(settings)
    producer = None if args.dry_run else create_producer(settings)
    bar = ProgressBar(len(chosen), label="replaying" if producer else "checking")
    try:
        if producer is not None:
            await producer.start()
        report = await replay(
            chosen,
            settings=settings,
            db=mongo_database(mongo, settings),
            producer=producer,
            progress=bar,
        )
    finally:
        bar.close()
        if producer is not None:
            await producer.stop()
        await mongo.close()
    print_report(report, dry_run=args.dry_run)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        selection_of(args)
    except ValueError as exc:
        sys.exit(f"docflow-dlq: {exc}")
    settings = load_settings(CommonSettings)
    command = _show if args.command == "show" else _replay
    sys.exit(asyncio.run(command(args, settings)))


if __name__ == "__main__":
    main()
