"""The inframock command line: `inframock <command>` (the Makefile's targets).

Parses arguments, resolves settings and dispatches; the work lives in the
modules it calls. One module per command group: `stack.py` (run, start, stop,
logs, status, env), `data.py` (the data folder), `state.py` (the stack's state:
snapshots, persistence, SQL, the relay), `engine.py` (the AWS engine).

Every command ends here, in one place (`_exit`): it returns an exit status or
another way to end (`roads.base.Outcome`), or raises an InframockError, which
is printed once as its exit status. No command exits by itself.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from inframock.cli import data, engine, stack, state
from inframock.core.errors import reported
from inframock.core.private import keep_private
from inframock.roads.base import ExitNow, Handover, Outcome


class _Commands(click.Group):
    """The command group: every InframockError is printed here, once, as the
    command's exit status (see `inframock.core.errors`), and every command
    exits here."""

    def invoke(self, ctx: click.Context) -> NoReturn:
        outcome: list[Outcome | None] = [None]

        def work() -> int:
            outcome[0] = click.Group.invoke(self, ctx)
            return 0

        code = reported(work)
        _exit(code or outcome[0])


def _exit(outcome: Outcome | None) -> NoReturn:
    """End the process as the command's outcome says (a command that returns
    nothing succeeded)."""
    if isinstance(outcome, Handover):
        outcome = outcome.become()  # returns only if the command cannot run
    if isinstance(outcome, ExitNow):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(outcome.code)  # pylint: disable=protected-access
    sys.exit(outcome or 0)


@click.group(
    cls=_Commands,
    commands=[*stack.COMMANDS, *data.COMMANDS, *state.COMMANDS, *engine.COMMANDS],
    context_settings={"help_option_names": ["-h", "--help"]},
)
def cli() -> None:
    """inframock: the Biomage (Cellenics) AWS stack and Redis, on this machine.

    Settings come from the environment and `.env` (see `.env.example`).
    """
    keep_private()  # the state, snapshots and pulls: the user's only
