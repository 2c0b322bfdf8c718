"""Pipeline runs for `make status`: running and recent executions, where each is.

Read through the public Step Functions API (ListStateMachines, ListExecutions,
GetExecutionHistory), so it describes any engine on either road.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from inframock.aws.clients import Clients

RECENT = 10
"""Executions shown: every running one, then the most recent others up to this."""


@dataclasses.dataclass
class PipelineRun:
    """One execution of a state machine and the state it is in (or ended in)."""

    state_machine: str
    name: str
    status: str
    started: str
    """ISO 8601, UTC."""
    state: str
    """The last state entered; empty when the history has none."""


def pipeline_runs(clients: Clients, limit: int = RECENT) -> list[PipelineRun]:
    """Running executions first, then the latest others, newest first."""
    sfn = clients.stepfunctions
    found: list[tuple[Any, dict[str, Any]]] = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            listed = sfn.list_executions(
                stateMachineArn=machine["stateMachineArn"], maxResults=limit
            )["executions"]
            found += [(machine["name"], execution) for execution in listed]
    found.sort(
        key=lambda item: (
            item[1]["status"] != "RUNNING",
            -_timestamp(item[1]["startDate"]),
        )
    )
    running = sum(1 for _, e in found if e["status"] == "RUNNING")
    return [
        PipelineRun(
            machine,
            execution["name"],
            execution["status"],
            _iso(execution["startDate"]),
            last_state(clients, execution["executionArn"]),
        )
        for machine, execution in found[: max(limit, running)]
    ]


def last_state(clients: Clients, execution_arn: str) -> str:
    """The name of the last state the execution entered."""
    events = clients.stepfunctions.get_execution_history(
        executionArn=execution_arn, reverseOrder=True, maxResults=50
    )["events"]
    return next(
        (
            e["stateEnteredEventDetails"]["name"]
            for e in events
            if "stateEnteredEventDetails" in e
        ),
        "",
    )


def _timestamp(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime.datetime) else 0.0


def _iso(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)
