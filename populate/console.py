"""Everything inframock prints: notes, errors, progress, banner and summaries.

One rich Console serves every thread, so service logs relayed by the supervisor,
loader progress and errors never tear each other's lines. On a terminal big
uploads get a live bar; in a log file or CI, plain progress lines instead.
A reload asked for through the control channel gets the same output, sent to
the terminal that asked (`redirected`).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, TextIO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from populate.dataset import TABLE_KINDS

if TYPE_CHECKING:
    from populate.engines import Service
    from populate.load import LoadReport
    from populate.seed import SeedResult
    from populate.settings import Settings
    from populate.status import StackStatus

terminal = Console(highlight=False, soft_wrap=True)
"""This process's own output: where service logs always go."""
console = terminal
"""Where inframock's own lines go now: the terminal, or a reload's client."""
PLAIN_PROGRESS_EVERY = 2.0
"""Seconds between progress lines when the output is not a terminal."""

ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SERVICE_STYLES = {"aws": "cyan", "redis": "magenta"}


def note(message: str) -> None:
    """A line of information from inframock itself."""
    console.print(f"[bold green]inframock[/] | {escape(message)}")


def warn(message: str) -> None:
    """Something the user should know but that does not stop anything."""
    console.print(f"[bold yellow]inframock[/] | [yellow]warning:[/] {escape(message)}")


def error(message: str) -> None:
    """Something that failed."""
    console.print(f"[bold red]inframock[/] | [red]error:[/] {escape(message)}")


def service_line(service: str, line: str) -> None:
    """A log line of a child service, prefixed by its name (its own colours removed)."""
    style = SERVICE_STYLES.get(service, "white")
    terminal.print(f"[{style}]{service:<9}[/] | {escape(ANSI_CODES.sub('', line))}")


@contextmanager
def redirected(stream: TextIO, is_terminal: bool, width: int) -> Iterator[None]:
    """Print inframock's own lines to `stream` meanwhile, as its terminal would show.

    Used by the supervisor while it runs a reload for another terminal; the
    services' logs stay on the supervisor's own terminal.
    """
    global console  # pylint: disable=global-statement
    previous = console
    console = Console(
        file=stream,
        force_terminal=is_terminal,
        force_interactive=is_terminal,
        width=width,
        highlight=False,
        soft_wrap=True,
    )
    try:
        yield
    finally:
        console = previous


class _PlainProgress:
    """Progress as a plain line every few seconds, for logs and CI."""

    def __init__(self, label: str, total: int, what: str) -> None:
        self.label = label
        self.total = total
        self.amount = f"{size(total)} {what}".rstrip()
        self.done = 0
        self._lock = threading.Lock()
        self._last_line = time.monotonic()
        note(f"{label}: started ({self.amount})")

    def advance(self, amount: int) -> None:
        """Record `amount` more bytes done; safe from any thread."""
        with self._lock:
            self.done += amount
            if time.monotonic() - self._last_line < PLAIN_PROGRESS_EVERY:
                return
            self._last_line = time.monotonic()
        percent = 100 * self.done / self.total if self.total else 100
        note(f"{self.label}: {percent:.0f}% of {self.amount} read")


class ProgressBoard:
    """Progress of the long transfers under way, however many run at once.

    rich allows one live display at a time, so concurrent uploads share one
    board, each as a task of its own.
    """

    def __init__(self, live: Progress | None) -> None:
        self._bar = live

    @contextmanager
    def track(
        self, label: str, total: int, what: str = "compressed"
    ) -> Iterator[Callable[[int], None]]:
        """Show one transfer of `total` bytes; yields its `advance(bytes)` callback.

        `what` qualifies the bytes in plain progress lines (`compressed`, or
        nothing when the bytes are the transfer's own).
        """
        if self._bar is None:
            yield _PlainProgress(label, total, what).advance
            return
        live = self._bar
        task = live.add_task(escape(label), total=total)
        try:
            yield lambda amount: live.advance(task, amount)
        finally:
            live.remove_task(task)


@contextmanager
def progress_board() -> Iterator[ProgressBoard]:
    """A board for the transfers of one load: live bars on a terminal only."""
    if not console.is_terminal:
        yield ProgressBoard(None)
        return
    with Progress(
        TextColumn("[bold green]inframock[/] | {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as live:
        yield ProgressBoard(live)


def size(amount: int) -> str:
    """A byte count for people: 103 B, 4.2 kB, 65.0 MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if amount >= scale:
            return f"{amount / scale:.1f} {unit}"
    return f"{amount} B"


def plural(count: int, noun: str) -> str:
    """`1 experiment`, `2 experiments`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
        for column in ("experiment", *TABLE_KINDS, *objects, "errors"):
            if column == "experiment":
                table.add_column(column, no_wrap=True, min_width=32)
            else:
                table.add_column(column, justify="right")
        for experiment in touched:
            table.add_row(
                escape(experiment.id),
                *(str(experiment.items.get(kind, 0)) for kind in TABLE_KINDS),
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
        console.print(table)
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
            console.print(f"    [red]•[/] {escape(str(problem))}")
    else:
        note(line)


def banner(
    settings: Settings, services: list[Service], result: SeedResult, seconds: float
) -> None:
    """What is running where, what was loaded, and how to reach it."""
    endpoint, region = settings.aws_endpoint, settings.region
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for service in services:
        address = endpoint if service.name == "aws" else settings.redis_url
        grid.add_row(f"{service.name} ({service.description})", escape(address))
    grid.add_row("region, account", f"{region}, 000000000000")
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
    grid.add_row("loaded", loaded)
    grid.add_row("try", escape(f"aws --endpoint-url {endpoint} s3 ls"))
    grid.add_row("", escape(f"redis-cli -u {settings.redis_url} ping"))
    grid.add_row("", 'eval "$(make -s env)" points aws-cli and SDKs here')
    grid.add_row("stop", "Ctrl-C here, or `make stop` in another terminal")
    console.print(
        Panel(
            grid,
            title=f"[bold green]inframock is ready[/] in {seconds:.1f} s",
            title_align="left",
            expand=False,
        )
    )


def json_document(document: object) -> None:
    """A JSON document alone on stdout, for scripts (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()


def duration(seconds: float) -> str:
    """An uptime for people: 42 s, 3 min 05 s, 2 h 07 min, 3 d 4 h."""
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


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
    console.print(table)
    if status.started_by_pid is not None:
        note(f"started by `make run`, pid {status.started_by_pid}")
    if status.problem:
        error(status.problem)
    for name in status.missing:
        error(f"not provisioned: {name}")
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
    return name.removesuffix("-development")


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
    console.print(table)


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
    console.print(table)


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
    console.print(table)


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
