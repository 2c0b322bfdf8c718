"""What the Postgres targets do: migrate, migrate-down, seed-sql, clean-sql."""

from __future__ import annotations

from inframock.core.record import StackRecord
from inframock.core.errors import InframockError
from inframock.core import console
from inframock.features.sql import migrate as knex
from inframock.services.postgres.place import place_for, remove
from inframock.services.postgres.seed_sql import load_sql
from inframock.core.settings import Settings


def migrate(settings: Settings, down: bool) -> int:
    """Run the knex migrations (up: then seed the data folder's SQL files)."""
    code = knex.migrate(settings, down)
    if code != 0:
        console.error(f"knex exited with code {code}")
        return code
    if not down:
        return load_sql(settings)
    return 0


def clean_sql(settings: Settings) -> int:
    """Remove the PostgreSQL data folder, wherever it lives (refused while the
    stack runs)."""
    running = StackRecord.read_live(settings.state_dir)
    if running is not None:
        raise InframockError(
            f"the stack is running (pid {running.pid}): stop it first (`make stop`), "
            "then `make clean-sql`"
        )
    place = place_for(settings)
    folder = remove(place)
    if folder is None:
        console.note(f"nothing to remove: {place.data} does not exist")
        return 0
    console.note(f"removed {folder}: the next start creates an empty aurora_db")
    return 0
