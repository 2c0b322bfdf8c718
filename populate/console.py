"""Everything inframock prints: notes, errors, progress, banner and summaries.

One rich Console serves every thread, so service logs relayed by the supervisor,
loader progress and errors never tear each other's lines. On a terminal big
uploads get a live live; in a log file or CI, plain progress lines instead.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

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

if TYPE_CHECKING:
    from populate.engines import Service
    from populate.load import LoadReport
    from populate.seed import SeedResult
    from populate.settings import Settings

console = Console(highlight=False, soft_wrap=True)
PLAIN_PROGRESS_EVERY = 2.0
"""Seconds between progress lines when the output is not a terminal."""

ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SERVICE_STYLES = {"aws": "cyan", "redis": "magenta"}
TABLE_KINDS = ("experiments", "samples", "plots-tables")


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
    console.print(f"[{style}]{service:<9}[/] | {escape(ANSI_CODES.sub('', line))}")


class _PlainProgress:
    """Progress as a plain line every few seconds, for logs and CI."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._last_line = time.monotonic()
        note(f"{label}: started ({size(total)} compressed)")

    def advance(self, amount: int) -> None:
        """Record `amount` more bytes done; safe from any thread."""
        with self._lock:
            self.done += amount
            if time.monotonic() - self._last_line < PLAIN_PROGRESS_EVERY:
                return
            self._last_line = time.monotonic()
        percent = 100 * self.done / self.total if self.total else 100
        note(f"{self.label}: {percent:.0f}% of {size(self.total)} compressed read")


class ProgressBoard:
    """Progress of the long transfers under way, however many run at once.

    rich allows one live display at a time, so concurrent uploads share one
    board, each as a task of its own.
    """

    def __init__(self, live: Progress | None) -> None:
        self._bar = live

    @contextmanager
    def track(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """Show one transfer of `total` bytes; yields its `advance(bytes)` callback."""
        if self._bar is None:
            yield _PlainProgress(label, total).advance
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
    """The end of a load: per experiment what went where, then the totals."""
    if report.experiments:
        table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        for column in ("experiment", *TABLE_KINDS, "r.rds", "errors"):
            if column == "experiment":
                table.add_column(column, no_wrap=True, min_width=32)
            else:
                table.add_column(column, justify="right")
        for experiment in report.experiments:
            table.add_row(
                escape(experiment.id),
                *(str(experiment.items.get(kind, 0)) for kind in TABLE_KINDS),
                "-" if experiment.rds_bytes is None else size(experiment.rds_bytes),
                str(len(experiment.problems)) if experiment.problems else "",
            )
        console.print(table)
    problems = report.all_problems
    line = (
        f"loaded {plural(len(report.experiments), 'experiment')}: "
        f"{plural(report.items, 'item')}, {size(report.bytes)} into S3, "
        f"{plural(len(problems), 'error')}"
    )
    if report.unchanged:
        line += f"; {plural(report.unchanged, 'unchanged file')} skipped"
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
