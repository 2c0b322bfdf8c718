"""What inframock writes is its user's only: folders 0700, files 0600.

The state folder holds whole copies of the user's data (the engine's saved
state and object blobs, Redis's dump, the r.rds cache, the loader's record,
the stack's log), and snapshots and pulled experiments hold the same. One
place decides their modes: `keep_private` sets the process umask where every
command starts (inframock.cli), and every child inherits it (the AWS engine,
Redis, PostgreSQL, the detached `run` of `make start`), so nothing has to
remember a mode when it creates a file. `private_folder` makes the state
folder 0700 when a stack starts; one an older inframock made open to others
is tightened then, with everything in it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from inframock.core.errors import InframockError

UMASK = 0o077
"""Group and others get nothing: new folders are 0700, new files 0600."""
OTHERS = 0o077


def keep_private() -> None:
    """From now on this process and its children create files only their
    owner can read."""
    os.umask(UMASK)


def private_folder(folder: Path) -> Path:
    """`folder`, made if need be, that only its owner can enter; what it holds
    is tightened too if it was open to others (made before this rule)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if stat.S_IMODE(folder.stat().st_mode) & OTHERS:
            _tighten(folder)
    except OSError as err:
        raise InframockError(
            f"cannot make {err.filename or folder} readable by its owner only: "
            f"{err.strerror}. Fix its owner or permissions (chmod -R go= {folder}), "
            "or set INFRAMOCK_STATE_DIR to a folder of your own"
        ) from None
    return folder


def _tighten(folder: Path) -> None:
    """Take group's and others' rights from `folder` and all it holds (symbolic
    links are left alone: their own mode means nothing)."""
    for parent, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            _drop_others(Path(parent) / name)
    _drop_others(folder)


def _drop_others(path: Path) -> None:
    info = path.lstat()
    if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & OTHERS:
        path.chmod(stat.S_IMODE(info.st_mode) & ~OTHERS)
