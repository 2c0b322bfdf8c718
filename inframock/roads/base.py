"""The Road interface: what a command asks of the road that runs the stack.

Two roads run the same stack: the embedded road (`roads/embedded/`: supervised
local processes) and the Docker road (`roads/compose/`: Docker Compose). A
command takes the road INFRAMOCK_RUNTIME chooses (`roads/choice.py`) and calls
it; it never asks which road it has. Each road answers every operation, and
refuses in its own words what it cannot do. LocalStack's runtime (one object
per way of running, chosen once) and honcho's Manager (the embedded road's
supervisor) are the models.

An operation ends with an `Outcome`, which the command line turns into the
process's exit in one place (`inframock.cli`): an exit status, a status to
exit with at once, or another program for this process to become.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import sys
import time
from typing import TYPE_CHECKING, ClassVar

from inframock.core import console
from inframock.core.errors import InframockError
from inframock.core.probes import stack_is_reachable
from inframock.core.settings import Settings
from inframock.data.default import ensure_default

if TYPE_CHECKING:
    from inframock.features.status import StackStatus

CANNOT_RUN = 127
"""The exit status of a program that could not be started (as a shell's)."""


@dataclasses.dataclass(frozen=True)
class ExitNow:
    """Exit with `code` at once, without waiting for this process's other
    threads: the embedded road's loader threads may still be mid-request to
    the engine it has just stopped."""

    code: int


@dataclasses.dataclass(frozen=True)
class Handover:
    """Replace this process with `command`: its signals and exit status are
    the command's own (the Docker road hands `stop`, `logs` and `reload-data`
    to Compose this way)."""

    command: list[str]

    def become(self) -> int:
        """Exec the command; returns (CANNOT_RUN) only if it cannot be run."""
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvp(self.command[0], self.command)
        except OSError as err:
            console.error(f"cannot run {self.command[0]}: {err}")
        return CANNOT_RUN


Outcome = int | ExitNow | Handover
"""How an operation ends: an exit status, or one of the ways above."""


@dataclasses.dataclass(frozen=True)
class Road(abc.ABC):
    """One way to run the stack, with every operation the commands need."""

    name: ClassVar[str]
    """How the road is announced: `local` or `docker`."""
    reason: str
    """Why this road was taken (which setting, what answered)."""

    def announce(self) -> None:
        """Say which road was taken, and why."""
        console.note(f"{self.name} road: {self.reason}")

    @classmethod
    def refuse_to_run(cls, settings: Settings) -> None:
        """Raise UsageError for settings this road cannot run the stack with.

        A class method, so that the road INFRAMOCK_RUNTIME forces refuses
        before it is even probed; none by default."""

    @abc.abstractmethod
    def run(self, settings: Settings, detached: bool, verbose: bool) -> Outcome:
        """`make run`: the stack in the foreground, provisioned and loaded.

        `detached`: run by `make start` in the background; `verbose`: every
        line of the services on the terminal too."""

    @abc.abstractmethod
    def start(self, settings: Settings, verbose: bool) -> Outcome:
        """`make start`: the stack in the background, returning once it is ready."""

    @abc.abstractmethod
    def stop(self, settings: Settings) -> Outcome:
        """`make stop`: stop the stack this road runs (0 also when none runs)."""

    @abc.abstractmethod
    def logs(self, settings: Settings, follow: bool, lines: int | None) -> Outcome:
        """`make logs`: print the stack's log (its last `lines`), and with
        `follow` keep printing until the stack stops."""

    @abc.abstractmethod
    def status(self, settings: Settings, stale: str, quiet: bool) -> StackStatus:
        """`make status`: the facts of the stack as it runs on this road.

        `stale` says what a killed stack's record left; `quiet`: print nothing
        (the facts are printed as JSON only)."""

    @abc.abstractmethod
    def reload(self, settings: Settings, everything: bool) -> Outcome:
        """`make reload-data`: load what changed in the data folder (with
        `everything`: every file) into the running stack."""

    @abc.abstractmethod
    def clean_sql(self, settings: Settings) -> Outcome:
        """`make clean-sql`: remove PostgreSQL's data (refused while it is used)."""


def first_use(settings: Settings) -> None:
    """Before a stack starts, on either road: write the default experiment into
    ./data when that (the default data folder) holds no experiment yet, since
    the repository does not store it."""
    started = time.monotonic()
    written = ensure_default(settings.data_path)
    if written is not None:
        total = sum(p.stat().st_size for p in written.iterdir())
        console.note(
            f"first use: wrote the default experiment to {written} "
            f"({console.size(total)}, {time.monotonic() - started:.1f} s); "
            "`make default-data` rewrites it"
        )


def require_stack(settings: Settings) -> None:
    """InframockError unless a stack answers at the settings' endpoint (a
    reload on either road needs one)."""
    if not stack_is_reachable(settings):
        raise InframockError(
            f"no inframock stack answers at {settings.aws_endpoint}. "
            "Start one with `make run` (in another terminal), then reload."
        )
