"""The one root of inframock's errors, and the one place they become exit codes.

Every failure a user can act on is an `InframockError` whose message says what
went wrong and what to do. Commands raise it; `reported` prints it once and
turns it into the command's exit status, for the command line and for a reload
asked for through the control channel alike.
"""

from __future__ import annotations

from typing import Callable


class InframockError(Exception):
    """A failure the user can act on; printed as one `error:` line."""

    exit_code = 1
    """The exit status of a command that ends with this error."""


class UsageError(InframockError):
    """The user's settings or choices cannot be used as they are."""

    exit_code = 2


def reported(work: Callable[[], int]) -> int:
    """Run a command's work; an InframockError is printed once as its exit status."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.output import console

    try:
        return work()
    except InframockError as err:
        console.error(str(err))
        return err.exit_code
