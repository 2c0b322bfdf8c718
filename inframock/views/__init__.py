"""The views: what inframock shows of its models (loads, the banner, status).

Views import the models they render; models and features never import views
back, except the entry points that decide to show something.
"""

from __future__ import annotations

import collections
import textwrap
import time
from typing import TYPE_CHECKING

from rich import box
from rich.markup import escape
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table

from inframock.model.stack import ACCOUNT_ID, ENVIRONMENT
from inframock.core.console import (
    current,
    detail,
    duration,
    error,
    note,
    plural,
    show,
    size,
    warn,
)
from inframock.core.settings import url_host
from inframock.engine import protocol

OBJECT_COLUMNS = (
    ("r.rds", "rds_bytes"),
    ("matrix", "matrix_bytes"),
    ("cell sets", "cell_sets_bytes"),
)
"""The load summary's object columns: header, and the report's byte count."""

if TYPE_CHECKING:
    from inframock.services.engines import Service
    from inframock.features.seed.reports import ExperimentReport, LoadReport, SeedResult
    from inframock.core.settings import Settings
    from inframock.features.status import StackStatus


RESOURCE_PARTS = {"index", "cors", "lifecycle", "attributes", "subscription"}
"""Kinds of `provision`'s resources that belong to another (its settings,
a topic's subscriptions)."""


def provisioned(created: list[str]) -> None:
    """What provisioning created: on the terminal one line, counting the
    tables, buckets, topics, queues, ... (or naming the few settings that were
    all it made); every resource by name in the log. `provision` names each
    resource `kind name...`."""
    kinds = collections.Counter(name.split(" ", 1)[0] for name in created)
    whole = ", ".join(
        plural(count, kind)
        for kind, count in kinds.items()
        if kind not in RESOURCE_PARTS
    )
    note(
        f"provisioned {plural(len(created), 'resource')}: {whole or ', '.join(created)}"
    )
    if whole:
        detail(f"provisioned: {', '.join(created)}")


def summary(report: LoadReport) -> None:
    """The end of a load: per experiment what went where, then the totals.

    Experiments a reload skipped whole stay out of the table; the count is
    of the experiments something was loaded of.
    """
    loaded = report.loaded
    touched = [e for e in report.experiments if e in loaded or e.problems]
    if touched:
        _load_table(touched, report.table_kinds)
    for experiment in touched:
        for line in experiment.notes:
            detail(f"{experiment.id}: {line}")
    problems = report.all_problems
    line = (
        f"loaded {plural(len(loaded), 'experiment')}: "
        f"{plural(report.items, 'item')}, {size(report.bytes)} into S3, "
        f"{plural(len(problems), 'error')}"
    )
    if report.unchanged:
        line += f"; {plural(report.unchanged, 'unchanged file')} skipped"
    line += f" ({report.seconds:.2f} s)"
    if problems:
        error(line)
        for problem in problems:
            show(f"    [red]•[/] {escape(str(problem))}")
    else:
        note(line)


def _load_table(touched: list[ExperimentReport], kinds: tuple[str, ...]) -> None:
    """Per experiment, items per table and bytes per object kind; only the
    columns some experiment has anything in. Ids are never cut: where the
    table does not fit the terminal, each experiment is its id on a line,
    then its counts, wrapped, below it."""
    columns: dict[str, list[str]] = {
        kind: [str(e.items.get(kind, 0)) for e in touched] for kind in kinds
    }
    for name, attribute in OBJECT_COLUMNS:
        columns[name] = [
            "-" if getattr(e, attribute) is None else size(getattr(e, attribute))
            for e in touched
        ]
    columns["errors"] = [str(len(e.problems)) if e.problems else "" for e in touched]
    shown = {
        name: values
        for name, values in columns.items()
        if any(v not in ("0", "-", "") for v in values)
    }
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    table.add_column("experiment", no_wrap=True)
    for name in shown:
        table.add_column(name, justify="right", no_wrap=True)
    for row, experiment in enumerate(touched):
        table.add_row(escape(experiment.id), *(v[row] for v in shown.values()))
    out = current()
    wide = out.options.update_width(1_000_000)  # measure unclamped
    if Measurement.get(out, wide, table).maximum <= out.width:
        show(table)
        return
    for row, experiment in enumerate(touched):
        counts = ", ".join(f"{name} {v[row]}" for name, v in shown.items() if v[row])
        show(f"  [bold]{escape(experiment.id)}[/]")
        for line in textwrap.wrap(counts, max(20, out.width - 4)):
            show(f"    {escape(line)}")


def banner(
    settings: Settings,
    services: list[Service],
    result: SeedResult,
    seconds: float,
    detached: bool = False,
) -> None:
    """What is running where, what was loaded, and how to reach it (and how to
    stop it: `detached` when `make start` runs it in the background)."""
    if result.load is None:
        loaded = f"nothing ({escape(result.skipped_because)})"
    else:
        load = result.load
        loaded = (
            f"{plural(len(load.loaded), 'experiment')}, "
            f"{plural(load.items, 'item')}, {size(load.bytes)} into S3"
        )
        if load.all_problems:
            count = plural(len(load.all_problems), "error")
            loaded += f", [red]{count} (listed above)[/]"
    rows = [(s.name, s.description) for s in services]
    stop = "`make stop`; `make logs FOLLOW=1` follows its log" if detached else None
    extra = _relay_rows(settings) + _state_rows(settings) + _schema_rows(settings)
    _ready_panel(settings, rows, loaded, seconds, extra, stop=stop)


def _state_rows(settings: Settings) -> list[tuple[str, str]]:
    """What the stack restored (INFRAMOCK_PERSIST), or that a saved state is
    left alone because it is off."""
    folder = settings.persist_dir
    if settings.persist:
        restored = protocol.last_restore(folder)
        return [("state", protocol.describe_restore(restored, folder))]
    when = protocol.saved_at(folder)
    if when is None:
        return []
    return [
        (
            "state",
            f"started clean: the state saved {when[:19].replace('T', ' ')} UTC in "
            f"{folder} is kept for INFRAMOCK_PERSIST=true (`make clean-state` "
            "forgets it)",
        )
    ]


def _schema_rows(settings: Settings) -> list[tuple[str, str]]:
    """That PostgreSQL's database has no tables yet, and how to create them."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.model.profiles import runs

    # pylint: disable-next=import-outside-toplevel
    from inframock.services.postgres import server

    if not runs(settings, "postgres"):
        return []
    if server.public_tables(settings.client_host, settings.postgres_port) != 0:
        return []
    return [("postgres", server.EMPTY_SCHEMA)]


def _relay_rows(settings: Settings) -> list[tuple[str, str]]:
    """The result relay the profile runs in `make run`, if it has one."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.model.profiles import stack_for

    stack = stack_for(settings)
    relay = stack.topic.relay
    if relay is None or "relay" not in stack.services:
        return []
    routes = " | ".join(path for _, path in relay.routes)
    retry = relay.retry
    return [
        ("relay", f"{stack.topic.name} → apiUrl + {routes}"),
        (
            "",
            f"retried {retry.retries}× ({retry.min_delay:g}–{retry.max_delay:g} s); "
            f"BackOff events → {settings.api_url}{relay.events_path}",
        ),
    ]


def docker_banner(
    settings: Settings,
    project: str,
    services: list[tuple[str, str]],
    loaded: str,
    seconds: float,
) -> None:
    """The same banner on the Docker road, once `populate` has loaded the stack.

    `services` are (name, description) pairs; `loaded` says what the stack holds.
    """
    extra = [("compose project", project)] + _relay_rows(settings)
    _ready_panel(settings, services, escape(loaded), seconds, extra)


def _address(settings: Settings, service: str) -> str:
    """Where clients reach `service`, as the banner shows it."""
    addresses = {
        "aws": settings.aws_endpoint,
        "redis": settings.redis_url,
        "postgres": f"postgresql://postgres@{url_host(settings.client_host)}:"
        f"{settings.postgres_port}/aurora_db",
    }
    return addresses.get(service, "")


def _ready_panel(
    settings: Settings,
    services: list[tuple[str, str]],
    loaded: str,
    seconds: float,
    extra: list[tuple[str, str]] | None = None,
    stop: str | None = None,
) -> None:
    endpoint, region = settings.aws_endpoint, settings.region
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, description in services:
        grid.add_row(
            f"{name} ({escape(description)})", escape(_address(settings, name))
        )
    grid.add_row("profile", escape(settings.profile))
    grid.add_row("region, account", f"{region}, {ACCOUNT_ID}")
    for label, value in extra or []:
        grid.add_row(label, escape(value))
    grid.add_row("loaded", loaded)
    grid.add_row("try", escape(f"aws --endpoint-url {endpoint} s3 ls"))
    grid.add_row("", escape(f"redis-cli -u {settings.redis_url} ping"))
    grid.add_row("", 'eval "$(make -s env)" points aws-cli and SDKs here')
    grid.add_row("stop", stop or "Ctrl-C here, or `make stop` in another terminal")
    show(
        Panel(
            grid,
            title=f"[bold green]inframock is ready[/] in {seconds:.1f} s",
            title_align="left",
            expand=False,
        )
    )


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


def fitted(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A table whose values are never cut: side by side when it fits the
    terminal, else one block per row (first value as heading, then one
    `column  value` line each), so addresses and ids stay whole on one line,
    for eyes and for grep alike. A column name starting with `>` is right-aligned.
    """
    out = current()
    table = Table(box=box.SIMPLE, title=title, title_justify="left")
    for column in columns:
        right = column.startswith(">")
        table.add_column(
            column.removeprefix(">"), justify="right" if right else "left", no_wrap=True
        )
    for row in rows:
        table.add_row(*row)
    wide = out.options.update_width(1_000_000)  # measure unclamped
    if Measurement.get(out, wide, table).maximum <= out.width:
        out.print(table)
        return
    out.print(title)
    names = [column.removeprefix(">") for column in columns]
    label = max(len(name) for name in names[1:])
    for row in rows:
        # soft_wrap: a line longer than the terminal wraps whole, never cut.
        out.print(f"  [bold]{row[0]}[/]", soft_wrap=True)
        for name, value in zip(names[1:], row[1:]):
            out.print(f"    {escape(name):<{label}}  {value}", soft_wrap=True)
    out.print()


def snapshot_summary(
    title: str, counts: dict[str, dict[str, int]], stored: int, started: float
) -> None:
    """What a snapshot holds, how big it is on disk and how long it took."""
    parts = ", ".join(
        size(count) if noun == "byte" else plural(count, noun)
        for part in counts.values()
        for noun, count in part.items()
    )
    seconds = time.monotonic() - started
    note(f"{title}: {parts}; {size(stored)} on disk, in {seconds:.1f} s")
