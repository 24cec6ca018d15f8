"""Checking that a repository's queries are answered from indexes, on the real store.

A test runs a repository's functions with a `CommandLog` attached to its client, then asks the
server to `explain` every filter those functions sent (finds, counts, and the filters of
updates and deletes). On FerretDB a plan that scans a table without an index, or sorts in a
temporary B-tree, is reported; on MongoDB, a COLLSCAN or an in-memory SORT stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient, monitoring

# Commands whose filters select documents; `distinct` is left out: FerretDB answers it from
# the index itself, which its `explain` (a find plan) cannot show.
_READS = {"find", "count", "update", "delete", "findAndModify"}
# FerretDB (SQLite) plan lines: a table scan without an index, or a sort done after reading.
_SQLITE_SCAN = re.compile(r"detail=SCAN \S+$")
_SQLITE_SORT = "TEMP B-TREE"


@dataclass(frozen=True, slots=True)
class SentFilter:
    database: str
    collection: str
    command: str
    filter: dict[str, Any]
    sort: dict[str, Any] | None = None


@dataclass
class CommandLog(monitoring.CommandListener):
    """Records the filters of the commands a client sends (attach with `event_listeners`)."""

    sent: list[SentFilter] = field(default_factory=list)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name, command = event.command_name, event.command
        if name not in _READS:
            return
        collection = command[name]
        if name == "find":
            filters = [(command.get("filter", {}), command.get("sort"))]
        elif name == "count":
            filters = [(command.get("query", {}), None)]
        elif name == "findAndModify":
            filters = [(command.get("query", {}), command.get("sort"))]
        else:  # update, delete: one filter per statement
            key = "updates" if name == "update" else "deletes"
            filters = [(statement["q"], None) for statement in command.get(key, [])]
        for filter_, sort in filters:
            self.sent.append(SentFilter(event.database_name, collection, name, dict(filter_), sort))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def unindexed(
    client: AsyncMongoClient[Any], log: CommandLog, *, allowed: frozenset[str] = frozenset()
) -> list[str]:
    """The sent filters whose plan scans or sorts without an index, described; `allowed`
    names collections that are small by design (a checkpoint per replica)."""
    problems = []
    for sent in log.sent:
        if sent.collection in allowed:
            continue
        if sent.command == "count" and not sent.filter:
            continue  # counting everything is one walk of the smallest index, by design
        explain: dict[str, Any] = {"find": sent.collection, "filter": sent.filter}
        if sent.sort:
            explain["sort"] = sent.sort
        reply = await client[sent.database].command(
            {"explain": explain, "verbosity": "queryPlanner"}
        )
        problem = _plan_problem(reply.get("queryPlanner", {}))
        if problem:
            problems.append(f"{sent.command} {sent.collection} {sent.filter}: {problem}")
    return problems


def _plan_problem(planner: dict[str, Any]) -> str | None:
    if "Plan" in planner:  # FerretDB: SQLite's EXPLAIN QUERY PLAN lines
        lines = [str(line) for line in planner["Plan"]]
        bad = [line for line in lines if _SQLITE_SCAN.search(line) or _SQLITE_SORT in line]
        return "; ".join(bad) or None
    stages = _stages(planner.get("winningPlan", {}))  # MongoDB
    bad_stages = sorted({stage for stage in stages if stage in ("COLLSCAN", "SORT")})
    return ", ".join(bad_stages) or None


def _stages(plan: Any) -> list[str]:
    if isinstance(plan, list):
        return [stage for item in plan for stage in _stages(item)]
    if not isinstance(plan, dict):
        return []
    found = [plan["stage"]] if isinstance(plan.get("stage"), str) else []
    for value in plan.values():
        found.extend(_stages(value))
    return found
