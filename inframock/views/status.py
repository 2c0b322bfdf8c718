"""`make status` as text: the services, the profile, what is wrong, the
experiments, and with `--verbose` every table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from inframock.core.console import (
    current,
    duration,
    error,
    note,
    plural,
    size,
    warn,
)
from inframock.model.stack import ACCOUNT_ID, ENVIRONMENT
from inframock.views.tables import fitted

if TYPE_CHECKING:
    from inframock.features.status import StackStatus


def status_report(status: StackStatus, verbose: bool = False) -> None:
    """`make status`: the services, the profile, what is wrong, and one line
    per experiment; `verbose`: every table (per-table counts, buckets, queue,
    topic and pipeline runs)."""
    if verbose:
        _services_table(status)
    else:
        _service_lines(status)
    started = (
        f"; started by {status.started_by}, pid {status.started_by_pid}"
        if status.started_by_pid is not None
        else ""
    )
    if status.profile:
        note(f"profile {status.profile} (INFRAMOCK_PROFILE){started}")
    if status.persisted:
        note(f"state (INFRAMOCK_PERSIST): {status.persisted}")
    _problems(status, verbose)
    if not status.services[0].up or status.problem:
        return
    if not verbose:
        _experiment_lines(status)
        note(
            "`make status VERBOSE=1` (--verbose): per-table counts, buckets, "
            "queue, topic, pipeline runs"
        )
        return
    _experiments_table(status)
    _buckets_table(status)
    if status.queue is not None:
        queue = status.queue
        note(
            f"queue {queue.name}: {queue.visible} waiting, {queue.in_flight} in "
            f"flight, {queue.delayed} delayed"
        )
    if status.topic is not None:
        _topic_table(status)
    _pipeline_runs_table(status)


def _services_table(status: StackStatus) -> None:
    fitted(
        "services",
        ["service", "state", "address", "version", "pid", "up for", ">memory"],
        [
            [
                service.name,
                "[green]up[/]" if service.up else "[red]down[/]",
                escape(service.address),
                escape(service.version),
                "-" if service.pid is None else str(service.pid),
                (
                    "-"
                    if service.uptime_seconds is None
                    else duration(service.uptime_seconds)
                ),
                "-" if service.memory_bytes is None else size(service.memory_bytes),
            ]
            for service in status.services
        ],
    )


def _service_lines(status: StackStatus) -> None:
    """One line per service: state, address, version, and its process."""
    width = max(len(service.name) for service in status.services)
    for service in status.services:
        state = "[green]up[/]  " if service.up else "[red]down[/]"
        facts = [escape(service.version)]
        if service.pid is not None:
            facts.append(f"pid {service.pid}")
        if service.uptime_seconds is not None:
            facts.append(f"up {duration(service.uptime_seconds)}")
        if service.memory_bytes is not None:
            facts.append(size(service.memory_bytes))
        current().print(
            f"{service.name:<{width}}  {state}  {escape(service.address)}  "
            f"{', '.join(facts)}",
            soft_wrap=True,
        )


SHORT_MISSING = 3
"""Unprovisioned resources named one by one by a short status."""


def _problems(status: StackStatus, verbose: bool) -> None:
    if status.problem:
        error(status.problem)
    named = status.missing if verbose else status.missing[:SHORT_MISSING]
    for name in named:
        error(f"not provisioned: {name}")
    if len(named) < len(status.missing):
        more = len(status.missing) - len(named)
        error(f"not provisioned: {more} more (`make status VERBOSE=1` lists them)")
    for line in status.warnings:
        warn(line)


def _experiment_lines(status: StackStatus) -> None:
    """One line per experiment: its items and its objects, in total."""
    if not status.experiments:
        note("no experiments loaded")
        return
    for experiment, counts in status.experiments.items():
        items = sum(counts.items.values())
        tables = sum(1 for n in counts.items.values() if n)
        objects = sum(u.objects for u in counts.objects.values())
        stored = sum(u.bytes for u in counts.objects.values())
        note(
            f"experiment {experiment}: {plural(items, 'item')} in "
            f"{plural(tables, 'table')}, {plural(objects, 'object')} ({size(stored)})"
        )


def _pipeline_runs_table(status: StackStatus) -> None:
    if not status.pipeline_runs:
        note("no pipeline runs (state machine executions)")
        return
    fitted(
        "pipeline runs (running and recent executions)",
        ["state machine", "execution", "status", "state", "started (UTC)"],
        [
            [
                escape(run.state_machine),
                escape(run.name),
                (
                    f"[yellow]{run.status}[/]"
                    if run.status == "RUNNING"
                    else (
                        f"[green]{run.status}[/]"
                        if run.status == "SUCCEEDED"
                        else f"[red]{run.status}[/]"
                    )
                ),
                escape(run.state or "-"),
                run.started,
            ]
            for run in status.pipeline_runs
        ],
    )


def _short(name: str) -> str:
    """A resource name without the environment suffix, for narrow columns."""
    return name.removesuffix(f"-{ACCOUNT_ID}").removesuffix(f"-{ENVIRONMENT}")


def _experiments_table(status: StackStatus) -> None:
    if not status.experiments:
        note("no experiments loaded")
        return
    first = next(iter(status.experiments.values()))
    # Only the buckets where some experiment has objects, to stay readable.
    buckets = [
        b
        for b in first.objects
        if any(e.objects[b].objects for e in status.experiments.values())
    ]
    columns = ["experiment"]
    columns += [f">{_short(name)}" for name in first.items]
    columns += [f">s3 {_short(name)}" for name in buckets]
    rows = []
    for experiment, counts in status.experiments.items():
        objects = [counts.objects[b] for b in buckets]
        rows.append(
            [
                escape(experiment),
                *(str(n) for n in counts.items.values()),
                *(
                    (
                        f"{plural(u.objects, 'object')}, {size(u.bytes)}"
                        if u.objects
                        else "-"
                    )
                    for u in objects
                ),
            ]
        )
    fitted("experiments", columns, rows)


def _buckets_table(status: StackStatus) -> None:
    fitted(
        "buckets",
        ["bucket", "versioning", ">objects", ">size"],
        [
            [
                escape(name),
                bucket.versioning,
                str(bucket.usage.objects),
                size(bucket.usage.bytes),
            ]
            for name, bucket in status.buckets.items()
        ],
    )


def _topic_table(status: StackStatus) -> None:
    topic = status.topic
    assert topic is not None
    if not topic.subscriptions:
        note(f"topic {topic.name} has no subscriptions")
        return
    fitted(
        f"topic {escape(topic.name)}",
        ["protocol", "endpoint", "filter policy", "confirmed"],
        [
            [
                sub.protocol,
                escape(sub.endpoint),
                escape(sub.filter_policy or "-"),
                "yes" if sub.confirmed else "[yellow]pending[/]",
            ]
            for sub in topic.subscriptions
        ],
    )
