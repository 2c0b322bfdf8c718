"""The state INFRAMOCK_PERSIST saved: what the banner says of it, and
`make clean-state`, which forgets it.

The engine's saved state (`<state>/persist`, see inframock.engine.protocol)
and Redis's dump (`<state>/redis`) go; PostgreSQL's data folder has its own
`make clean-sql`. Refused while the stack runs: it would save again on stop.
"""

from __future__ import annotations

import shutil

from inframock.core.record import StackRecord
from inframock.core.errors import InframockError
from inframock.core import console
from inframock.core.settings import Settings
from inframock.engine import protocol


def state_rows(settings: Settings) -> list[tuple[str, str]]:
    """The banner's rows: what the stack restored (INFRAMOCK_PERSIST), or that
    a saved state is left alone because it is off."""
    folder = settings.persist_dir
    if settings.persist:
        restored = protocol.last_restore(folder)
        return [("state", protocol.describe_restore(restored, folder))]
    when = protocol.saved_at(folder)
    if when is None:
        return []
    return [
        (
            "state",
            f"started clean: the state saved {when[:19].replace('T', ' ')} UTC in "
            f"{folder} is kept for INFRAMOCK_PERSIST=true (`make clean-state` "
            "forgets it)",
        )
    ]


def clean_state(settings: Settings) -> int:
    """Remove the saved state; 0 also when there was none."""
    running = StackRecord.read_live(settings.state_dir)
    if running is not None:
        raise InframockError(
            f"the stack is running (pid {running.pid}): stop it first (`make stop`), "
            "then `make clean-state`"
        )
    removed = [
        folder
        for folder in (settings.persist_dir, settings.redis_dir)
        if folder.exists()
    ]
    for folder in removed:
        shutil.rmtree(folder)
    if not removed:
        console.note(f"nothing to forget: no saved state in {settings.state_dir}")
        return 0
    names = " and ".join(str(folder) for folder in removed)
    console.note(f"removed {names}: the next start is clean")
    return 0
