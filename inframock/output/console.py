"""Where inframock's own lines go, and the small words they are made of.

One rich Console (`terminal`) serves every thread of the process, so service
logs relayed by the supervisor, loader progress and errors never tear each
other's lines. A thread that works for another terminal (a reload asked for
through the control channel) prints there instead, for as long as it works
(`redirected`); every other thread keeps printing to this process's own
terminal. Features call `note`, `warn` and `error`; whole views (tables,
banners, summaries) are in `inframock.output.views`.
"""

from __future__ import annotations

import json
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

from rich.console import Console
from rich.markup import escape
from rich.text import Text

terminal = Console(highlight=False, soft_wrap=True)
"""This process's own output: where service logs always go."""
_thread = threading.local()
"""Per thread: the console a reload for another terminal prints to."""

SERVICE_STYLES = {"aws": "cyan", "redis": "magenta", "relay": "green"}


def current() -> Console:
    """Where this thread's lines go: its reload's client, or the terminal."""
    return getattr(_thread, "console", terminal)


def adopted() -> dict[str, Any]:
    """Keyword arguments for a ThreadPoolExecutor whose threads print where
    this thread prints (a reload's workers print to that reload's client)."""
    return {"initializer": _adopt, "initargs": (current(),)}


def _adopt(out: Console) -> None:
    _thread.console = out


def note(message: str) -> None:
    """A line of information from inframock itself."""
    current().print(f"[bold green]inframock[/] | {escape(message)}")


def warn(message: str) -> None:
    """Something the user should know but that does not stop anything."""
    current().print(
        f"[bold yellow]inframock[/] | [yellow]warning:[/] {escape(message)}"
    )


def error(message: str) -> None:
    """Something that failed."""
    current().print(f"[bold red]inframock[/] | [red]error:[/] {escape(message)}")


def service_line(service: str, line: str) -> None:
    """A log line of a child service, prefixed by its name.

    Its own colours (the AWS engine's errors in red) are kept where the
    terminal shows colour and dropped where it does not (a pipe, a file).
    """
    style = SERVICE_STYLES.get(service, "white")
    text = Text.from_markup(f"[{style}]{service:<9}[/] | ")
    text.append_text(Text.from_ansi(line))
    terminal.print(text)


@contextmanager
def redirected(stream: TextIO, is_terminal: bool, width: int) -> Iterator[None]:
    """Print this thread's lines to `stream` meanwhile, as its terminal would.

    Used by the control thread while it runs a reload for another terminal;
    other threads (service logs, the banner, a service's exit) are untouched.
    """
    previous = getattr(_thread, "console", None)
    _thread.console = Console(
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
        if previous is None:
            del _thread.console
        else:
            _thread.console = previous


def size(amount: int) -> str:
    """A byte count for people: 103 B, 4.2 kB, 65.0 MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if amount >= scale:
            return f"{amount / scale:.1f} {unit}"
    return f"{amount} B"


def plural(count: int, noun: str) -> str:
    """`1 experiment`, `2 experiments`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


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


def json_document(document: object) -> None:
    """A JSON document alone on stdout, for scripts (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()
