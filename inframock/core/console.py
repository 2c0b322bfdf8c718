"""Where inframock's own lines go, and the small words they are made of.

One rich Console (`terminal`) serves every thread of the process, so service
logs relayed by the supervisor, loader progress and errors never tear each
other's lines. A thread that works for another terminal (a reload asked for
through the control channel) prints there instead, for as long as it works
(`redirected`); every other thread keeps printing to this process's own
terminal. Features call `note`, `warn` and `error`; whole views (tables,
banners, summaries) are in `inframock.views`.

A running stack also keeps a log (`log_to`): every line goes there, and the
terminal shows only what a person needs (`shown` decides, in one place): its
own notes, warnings and errors, the AWS operations clients ask for, and the
warnings and errors of its services. `detail` lines (what provisioning
created, each file loaded) and the services' start-up chatter are in the log
only, unless `verbose` (`--verbose`, INFRAMOCK_LOG=http) shows everything.
"""

from __future__ import annotations

import dataclasses
import json
import re
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

NOISE = re.compile(
    "|".join(
        (
            r"WARNING Memory overcommit must be enabled",  # valkey, harmless here
            r"WARNING: This is a development server",  # werkzeug: it is one
            r"^ \* Running on ",
            r"^Press CTRL\+C to quit",
            r"^(inframock [\w-]+|health checks): \d+ requests? \(",  # oplog.Summary
        )
    )
)
"""Lines of services that are known and harmless: the log has them."""
ALERT = re.compile(r"\b(warning|error|fatal|panic|refused|traceback)\b", re.I)
"""A word that makes a service's line worth the terminal."""


@dataclasses.dataclass
class _Sinks:
    """Where this process's lines go besides the terminal, and how much of
    them the terminal shows."""

    log: Console | None = None
    verbose: bool = False
    muted: bool = False
    """The terminal shows nothing more (a detached stack, once it is ready)."""


_sinks = _Sinks()


def log_to(file: TextIO, verbose: bool) -> None:
    """From now on write every line to `file` too; `verbose`: the terminal
    shows every line as well, not only what `shown` picks."""
    _sinks.log = Console(
        file=file,
        width=terminal.width,
        highlight=False,
        soft_wrap=True,
        no_color=True,
        force_terminal=False,
    )
    _sinks.verbose = verbose


def mute_terminal() -> None:
    """Show nothing more on the terminal; the log goes on (`make start`'s
    stack, whose terminal is the transcript `start` copied)."""
    _sinks.muted = True


def shown(service: str, line: str) -> bool:
    """Whether a service's log line is shown on the terminal (the log has all).

    The AWS engine's lines are the operations clients ask for (its own
    start-up lines and the summaries of inframock's own calls excepted);
    of the other services only warnings and errors. Without a log file (the
    Compose road's containers, whose output is `docker compose logs`) every
    line is shown: there is nowhere else for it to go.
    """
    if _shows_everything():
        return True
    if NOISE.search(line):
        return False
    return service == "aws" or ALERT.search(line) is not None


def _shows_everything() -> bool:
    """Verbose, or no log file to hold what the terminal leaves out."""
    return _sinks.verbose or _sinks.log is None


def _emit(renderable: Any, visible: bool = True) -> None:
    """Print to the log, and to this thread's console if `visible` (or verbose)."""
    out = current()
    if _sinks.log is not None:
        _sinks.log.print(renderable)
    if (visible or _shows_everything()) and not (out is terminal and _sinks.muted):
        out.print(renderable)


def show(renderable: Any) -> None:
    """A whole view (a table, the banner): on the terminal and in the log."""
    _emit(renderable)


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
    _emit(f"[bold green]inframock[/] | {escape(message)}")


def detail(message: str) -> None:
    """A line of information for the log (the terminal shows it when verbose)."""
    _emit(f"[bold green]inframock[/] | {escape(message)}", visible=False)


def warn(message: str) -> None:
    """Something the user should know but that does not stop anything."""
    _emit(f"[bold yellow]inframock[/] | [yellow]warning:[/] {escape(message)}")


def error(message: str) -> None:
    """Something that failed."""
    _emit(f"[bold red]inframock[/] | [red]error:[/] {escape(message)}")


def service_line(service: str, line: str, style: str = "white") -> None:
    """A log line of a child service, prefixed by its name in its `style`
    (each service's module chooses its colour).

    Its own colours (the AWS engine's errors in red) are kept where the
    terminal shows colour and dropped where it does not (a pipe, a file).
    """
    text = Text.from_markup(f"[{style}]{service:<9}[/] | ")
    text.append_text(Text.from_ansi(line))
    if _sinks.log is not None:
        _sinks.log.print(text)
    if shown(service, line) and not _sinks.muted:
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
