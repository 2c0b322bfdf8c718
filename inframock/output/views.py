"""The views: what inframock shows of its models (loads, the banner, status).

Views import the models they render; models and features never import views
back, except the entry points that decide to show something.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich import box
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from inframock.definition.stack import ACCOUNT_ID, ENVIRONMENT
from inframock.output.console import (
    current,
    duration,
    error,
    note,
    plural,
    size,
    warn,
)

if TYPE_CHECKING:
    from inframock.embedded.engines import Service
    from inframock.seed.reports import LoadReport, SeedResult
    from inframock.settings import Settings
    from inframock.status import StackStatus


def summary(report: LoadReport) -> None:
    """The end of a load: per experiment what went where, then the totals.

    Experiments a reload skipped whole stay out of the table.
    """
    touched = [
        e
        for e in report.experiments
        if e.items
        or e.problems
        or any(n is not None for n in (e.rds_bytes, e.matrix_bytes, e.cell_sets_bytes))
    ]
    if touched:
        table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        objects = ("r.rds", "matrix", "cell sets")
        kinds = report.table_kinds
        for column in ("experiment", *kinds, *objects, "errors"):
            if column == "experiment":
                table.add_column(column, no_wrap=True, min_width=32)
            else:
                table.add_column(column, justify="right")
        for experiment in touched:
            table.add_row(
                escape(experiment.id),
                *(str(experiment.items.get(kind, 0)) for kind in kinds),
                *(
                    "-" if n is None else size(n)
                    for n in (
                        experiment.rds_bytes,
                        experiment.matrix_bytes,
                        experiment.cell_sets_bytes,
                    )
                ),
                str(len(experiment.problems)) if experiment.problems else "",
            )
        current().print(table)
    for experiment in touched:
        for line in experiment.notes:
            note(f"{experiment.id}: {line}")
    problems = report.all_problems
    line = (
        f"loaded {plural(len(report.experiments), 'experiment')}: "
        f"{plural(report.items, 'item')}, {size(report.bytes)} into S3, "
        f"{plural(len(problems), 'error')}"
    )
    if report.unchanged:
        line += f"; {plural(report.unchanged, 'unchanged file')} skipped"
    line += f" ({report.seconds:.2f} s)"
    if problems:
        error(line)
        for problem in problems:
            current().print(f"    [red]•[/] {escape(str(problem))}")
    else:
        note(line)


def banner(
    settings: Settings, services: list[Service], result: SeedResult, seconds: float
) -> None:
    """What is running where, what was loaded, and how to reach it."""
    if result.load is None:
        loaded = f"nothing ({escape(result.skipped_because)})"
    else:
        load = result.load
        loaded = (
            f"{plural(len(load.experiments), 'experiment')}, "
            f"{plural(load.items, 'item')}, {size(load.bytes)} into S3"
        )
        if load.all_problems:
            count = plural(len(load.all_problems), "error")
            loaded += f", [red]{count} (listed above)[/]"
    rows = [(s.name, s.description) for s in services]
    _ready_panel(settings, rows, loaded, seconds, _relay_rows(settings))


def _relay_rows(settings: Settings) -> list[tuple[str, str]]:
    """The result relay the profile runs in `make run`, if it has one."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.definition.profiles import stack_for

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
    _ready_panel(
        settings, services, escape(loaded), seconds, [("compose project", project)]
    )


def _ready_panel(
    settings: Settings,
    services: list[tuple[str, str]],
    loaded: str,
    seconds: float,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    endpoint, region = settings.aws_endpoint, settings.region
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, description in services:
        address = endpoint if name == "aws" else settings.redis_url
        grid.add_row(f"{name} ({escape(description)})", escape(address))
    grid.add_row("profile", escape(settings.profile))
    grid.add_row("region, account", f"{region}, {ACCOUNT_ID}")
    for label, value in extra or []:
        grid.add_row(label, escape(value))
    grid.add_row("loaded", loaded)
    grid.add_row("try", escape(f"aws --endpoint-url {endpoint} s3 ls"))
    grid.add_row("", escape(f"redis-cli -u {settings.redis_url} ping"))
    grid.add_row("", 'eval "$(make -s env)" points aws-cli and SDKs here')
    grid.add_row("stop", "Ctrl-C here, or `make stop` in another terminal")
    current().print(
        Panel(
            grid,
            title=f"[bold green]inframock is ready[/] in {seconds:.1f} s",
            title_align="left",
            expand=False,
        )
    )


def status_report(status: StackStatus) -> None:
    """`make status`: services, then experiments, buckets, queue and topic."""
    table = Table(box=box.SIMPLE, title="services", title_justify="left")
    for column in ("service", "state", "address", "version", "pid", "up for"):
        table.add_column(column)
    table.add_column("memory", justify="right")
    for service in status.services:
        table.add_row(
            service.name,
            "[green]up[/]" if service.up else "[red]down[/]",
            escape(service.address),
            escape(service.version),
            "-" if service.pid is None else str(service.pid),
            "-" if service.uptime_seconds is None else duration(service.uptime_seconds),
            "-" if service.memory_bytes is None else size(service.memory_bytes),
        )
    current().print(table)
    if status.profile:
        note(f"profile {status.profile} (INFRAMOCK_PROFILE)")
    if status.started_by_pid is not None:
        note(f"started by `make run`, pid {status.started_by_pid}")
    if status.problem:
        error(status.problem)
    for name in status.missing:
        error(f"not provisioned: {name}")
    for line in status.warnings:
        warn(line)
    if not status.services[0].up or status.problem:
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
    table = Table(box=box.SIMPLE, title="experiments", title_justify="left")
    table.add_column("experiment", no_wrap=True)
    for name in first.items:
        table.add_column(_short(name), justify="right")
    for name in buckets:
        table.add_column(f"s3 {_short(name)}", justify="right")
    for experiment, counts in status.experiments.items():
        objects = [counts.objects[b] for b in buckets]
        table.add_row(
            escape(experiment),
            *(str(n) for n in counts.items.values()),
            *(
                f"{plural(u.objects, 'object')}, {size(u.bytes)}" if u.objects else "-"
                for u in objects
            ),
        )
    current().print(table)


def _buckets_table(status: StackStatus) -> None:
    table = Table(box=box.SIMPLE, title="buckets", title_justify="left")
    table.add_column("bucket")
    table.add_column("versioning")
    table.add_column("objects", justify="right")
    table.add_column("size", justify="right")
    for name, bucket in status.buckets.items():
        table.add_row(
            escape(name),
            bucket.versioning,
            str(bucket.usage.objects),
            size(bucket.usage.bytes),
        )
    current().print(table)


def _topic_table(status: StackStatus) -> None:
    topic = status.topic
    assert topic is not None
    table = Table(
        box=box.SIMPLE, title=f"topic {escape(topic.name)}", title_justify="left"
    )
    table.add_column("protocol")
    table.add_column("endpoint", overflow="fold")  # whole, even on narrow terminals
    table.add_column("filter policy", overflow="fold")
    table.add_column("confirmed")
    for sub in topic.subscriptions:
        table.add_row(
            sub.protocol,
            escape(sub.endpoint),
            escape(sub.filter_policy or "-"),
            "yes" if sub.confirmed else "[yellow]pending[/]",
        )
    if not topic.subscriptions:
        note(f"topic {topic.name} has no subscriptions")
        return
    current().print(table)


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
