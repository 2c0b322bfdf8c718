"""`make clean-state`: forget the state INFRAMOCK_PERSIST saved.

The engine's saved state (`<state>/persist`, see inframock.engine.persistence)
and Redis's dump (`<state>/redis`) go; PostgreSQL's data folder has its own
`make clean-sql`. Refused while the stack runs: it would save again on stop.
"""

from __future__ import annotations

import shutil

from inframock.core.record import StackRecord
from inframock.core.errors import InframockError
from inframock.core import console
from inframock.core.settings import Settings


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
