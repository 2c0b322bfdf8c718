"""The one root of inframock's errors, and the one place they become exit codes.

Every failure a user can act on is an `InframockError` whose message says what
went wrong and what to do. Commands raise it; `reported` prints it once and
turns it into the command's exit status, for the command line and for a reload
asked for through the control channel alike.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Callable

CANNOT_WRITE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
"""An OSError that says a folder takes no more (full, over quota, read-only)."""


class InframockError(Exception):
    """A failure the user can act on; printed as one `error:` line."""

    exit_code = 1
    """The exit status of a command that ends with this error."""


class UsageError(InframockError):
    """The user's settings or choices cannot be used as they are."""

    exit_code = 2


def free_space(folder: Path) -> str:
    """`1.2 MB free` in the file system of `folder` (or its nearest parent)."""
    for place in (folder, *folder.parents):
        try:
            return f"{shutil.disk_usage(place).free / 1e6:,.1f} MB free"
        except OSError:
            continue
    return "free space unknown"


def cannot_write(err: OSError, folder: Path) -> InframockError:
    """One line for `err` (in CANNOT_WRITE) met writing in `folder` (the
    file's own folder when the error names it): where, why, how much is free."""
    where = Path(err.filename).parent if err.filename else folder
    return InframockError(
        f"cannot write in {where}: {err.strerror} ({free_space(where)}); free "
        "some space there and start again (what was saved before is kept)"
    )


MIN_ROOM = 1_000_000
"""Bytes a stack's state folder must have free to start: the record, the
log and the engine's restore note need a little; less than this is full."""


def check_room(folder: Path) -> None:
    """The one-line error of `cannot_write` if `folder` is (all but) full, so
    a start stops before its services do, not in one of them."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # the writes themselves will tell
    if free < MIN_ROOM:
        raise cannot_write(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), folder)


def reported(work: Callable[[], int]) -> int:
    """Run a command's work; an InframockError is printed once as its exit status."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.core import console

    try:
        return work()
    except InframockError as err:
        console.error(str(err))
        return err.exit_code
