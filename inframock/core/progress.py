"""Progress of long transfers: live bars on a terminal, plain lines elsewhere.

The board is made on the thread that starts a load and keeps that thread's
console, so the upload threads' progress goes to the same terminal (a
reload's client included).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from inframock.core.console import current, size

PLAIN_PROGRESS_EVERY = 2.0
"""Seconds between progress lines when the output is not a terminal."""


class _PlainProgress:
    """Progress as a plain line every few seconds, for logs and CI."""

    def __init__(self, out: Console, label: str, total: int, what: str) -> None:
        self._out = out
        self.label = label
        self.total = total
        self.amount = f"{size(total)} {what}".rstrip()
        self.done = 0
        self._lock = threading.Lock()
        self._last_line = time.monotonic()
        self._line(f"{label}: started ({self.amount})")

    def advance(self, amount: int) -> None:
        """Record `amount` more bytes done; safe from any thread."""
        with self._lock:
            self.done += amount
            if time.monotonic() - self._last_line < PLAIN_PROGRESS_EVERY:
                return
            self._last_line = time.monotonic()
        percent = 100 * self.done / self.total if self.total else 100
        self._line(f"{self.label}: {percent:.0f}% of {self.amount} read")

    def _line(self, message: str) -> None:
        """A note on the console of the load's thread, from any upload thread."""
        self._out.print(f"[bold green]inframock[/] | {escape(message)}")


class ProgressBoard:
    """Progress of the long transfers under way, however many run at once.

    rich allows one live display at a time, so concurrent uploads share one
    board, each as a task of its own.
    """

    def __init__(self, live: Progress | None, out: Console | None = None) -> None:
        self._bar = live
        self._out = out or current()

    @contextmanager
    def track(
        self, label: str, total: int, what: str = "compressed"
    ) -> Iterator[Callable[[int], None]]:
        """Show one transfer of `total` bytes; yields its `advance(bytes)` callback.

        `what` qualifies the bytes in plain progress lines (`compressed`, or
        nothing when the bytes are the transfer's own).
        """
        if self._bar is None:
            yield _PlainProgress(self._out, label, total, what).advance
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
    out = current()
    if not out.is_terminal:
        yield ProgressBoard(None, out)
        return
    with Progress(
        TextColumn("[bold green]inframock[/] | {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=out,
        transient=True,
    ) as live:
        yield ProgressBoard(live, out)
