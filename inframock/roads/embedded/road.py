"""The embedded road behind the Road interface: `make run` with no Docker.

Each operation is the embedded module that owns it: `run.py` (the stack in the
foreground), `background.py` (`start`, `logs`), `stop.py`, `control.py` (a
reload inside the running `make run`, with its warm clients); the stack's
record (`core/record.py`) says what runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from inframock.core import console
from inframock.core.errors import reported
from inframock.core.record import StackRecord
from inframock.core.settings import Settings, portable_raw_settings
from inframock.roads.base import ExitNow, Outcome, Road, first_use, require_stack
from inframock.roads.embedded import control

if TYPE_CHECKING:
    from inframock.features.status import StackStatus

# The modules behind each operation are imported by it: boto3, psycopg and the
# services behind them are not needed by every command.
# pylint: disable=import-outside-toplevel


@dataclasses.dataclass(frozen=True)
class EmbeddedRoad(Road):
    """The stack as supervised child processes of `make run`."""

    name = "local"

    def run(self, settings: Settings, detached: bool, verbose: bool) -> Outcome:
        from inframock.roads.embedded.run import run

        first_use(settings)
        # Loader threads may still be mid-request to the stopped engine: do not wait.
        return ExitNow(reported(lambda: run(settings, detached, verbose)))

    def start(self, settings: Settings, verbose: bool) -> Outcome:
        from inframock.roads.embedded.background import start

        first_use(settings)
        return start(settings, verbose)

    def stop(self, settings: Settings) -> Outcome:
        from inframock.roads.embedded.stop import stop_stack

        return stop_stack(settings)

    def logs(self, settings: Settings, follow: bool, lines: int | None) -> Outcome:
        from inframock.roads.embedded.background import logs

        return logs(settings, follow, lines)

    def status(self, settings: Settings, stale: str, quiet: bool) -> StackStatus:
        """The record of `make run` says which engine runs, and its processes."""
        from inframock.features.status import collect_status

        return collect_status(settings, "", stale)

    def reload(self, settings: Settings, everything: bool) -> Outcome:
        """Inside the running `make run` when it takes reloads, else here."""
        code = _reload_through_control(settings, everything)
        if code is not None:
            return code
        require_stack(settings)
        from inframock.features.seed.seed import seed_status

        return seed_status(settings, everything)

    def clean_sql(self, settings: Settings) -> Outcome:
        from inframock.features.sql.commands import clean_sql

        return clean_sql(settings)


def _reload_through_control(settings: Settings, everything: bool) -> int | None:
    """Have the running `make run` reload with its warm clients; None if it cannot.

    The request carries this terminal's settings, so the reload means what it
    would mean run here.
    """
    record = StackRecord.read_live(settings.state_dir)
    if record is None or not record.control:
        return None
    return control.call(
        Path(record.control),
        {
            "settings": portable_raw_settings(),
            "everything": everything,
            "terminal": console.terminal.is_terminal,
            "width": console.terminal.width,
        },
    )
