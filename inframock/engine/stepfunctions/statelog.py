"""One log line per state change of a running execution.

moto's interpreter records history events but says nothing while it runs, so a
pipeline run is invisible in `make run` until someone reads its history. Here
each execution's event manager is labelled with its state machine and
execution name, and the events that change where an execution is (a state
entered, a task or activity failing or timing out, the execution starting or
ending) are written as one line each, e.g.

    states biomage-qc-development-1f2e…/6b0c… entered ClassifierFilter
    states biomage-qc-development-1f2e…/6b0c… ActivityFailed: R error at …
    states biomage-qc-development-1f2e…/6b0c… execution FAILED
"""

from __future__ import annotations

import functools
import sys
from typing import Any

ENDED = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}
"""Events that end an execution, and the status it ends with."""

PROBLEMS = (
    "ActivityFailed",
    "ActivityTimedOut",
    "TaskFailed",
    "TaskTimedOut",
    "LambdaFunctionFailed",
    "MapStateFailed",
)
"""Events that say why a state failed."""

DETAIL_LIMIT = 200
"""Longest error text a line repeats (the history keeps all of it)."""


def describe(event_type: str, details: dict[str, Any] | None) -> str | None:
    """The log text of one history event, or None for one that changes nothing."""
    details = details or {}
    if event_type.endswith("StateEntered"):
        name = details.get("stateEnteredEventDetails", {}).get("name", "?")
        return f"entered {name}"
    if event_type == "ExecutionStarted":
        return "execution started"
    if event_type in ENDED:
        return f"execution {ENDED[event_type]}"
    if event_type in PROBLEMS:
        found = next((v for v in details.values() if isinstance(v, dict)), {})
        why = ": ".join(
            str(found[k]) for k in ("error", "cause") if found.get(k) is not None
        )
        return f"{event_type}: {why[:DETAIL_LIMIT]}" if why else event_type
    return None


def log(line: str) -> None:
    """One line on the engine's stderr (the stack relays it to its log)."""
    sys.stderr.write(line + "\n")  # one write: whole lines among other threads
    sys.stderr.flush()


def labelled(environment: Any) -> Any:
    """`ExecutionWorker._get_evaluation_environment`, its event manager
    labelled with the state machine and execution."""

    @functools.wraps(environment)
    def with_label(self: Any) -> Any:
        env = environment(self)
        details = self._evaluation_details  # pylint: disable=protected-access
        machine = details.state_machine_details.name
        env.event_manager.inframock_label = (
            f"{machine}/{details.execution_details.name}"
        )
        return env

    return with_label


def add_and_log(add_event: Any) -> Any:
    """`EventManager.add_event`, logging a labelled manager's state changes."""

    @functools.wraps(add_event)
    def logged(self: Any, *args: Any, **kwargs: Any) -> int:
        event_id = add_event(self, *args, **kwargs)
        event_type = kwargs.get("event_type", args[1] if len(args) > 1 else None)
        details = kwargs.get("event_details", args[2] if len(args) > 2 else None)
        text = describe(str(getattr(event_type, "value", event_type)), details)
        label = getattr(self, "inframock_label", None)
        if text and label:
            log(f"states {label} {text}")
        return event_id

    return logged
