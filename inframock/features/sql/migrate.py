"""`make migrate` / `make migrate-down`: Cellenics' own knex migrations.

Run the way the original inframock and `cellenics rds migrator` did: from the
user's iac checkout (`iac/migrations/sql-migrations`, its knexfile and its
node_modules), with the migrations of the sibling api checkout
(`api/src/sql/migrations`, which the knexfile names as a relative path; we
pass the configured one explicitly so any api checkout works). In development
the knexfile connects to localhost:5431 as dev_role, so the stack's
PostgreSQL must listen there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from inframock.model.stack import ACCOUNT_ID
from inframock.services.base import child_environment
from inframock.core.errors import InframockError
from inframock.core import console
from inframock.services.postgres.server import can_connect
from inframock.core.settings import Settings

KNEXFILE_PORT = 5431
"""The port iac's knexfile uses in development (getConnectionParams.js)."""


class MigrateError(InframockError):
    """Migrations cannot run; the message says what is missing."""


def migrations_folder(settings: Settings) -> Path:
    """Where the iac knexfile and its node_modules are."""
    return settings.iac_path.absolute() / "migrations" / "sql-migrations"


def knex_command(settings: Settings, down: bool) -> list[str]:
    """The knex command line, after checking everything it needs is there."""
    iac, api = settings.iac_path.absolute(), settings.api_path.absolute()
    folder = migrations_folder(settings)
    migrations = api / "src" / "sql" / "migrations"
    if not iac.is_dir():
        raise MigrateError(
            f"no iac checkout at {iac}: clone hms-dbmi-cellenics/iac there or set "
            "CELLENICS_IAC_PATH"
        )
    if not (folder / "knexfile.js").is_file():
        raise MigrateError(
            f"{folder}/knexfile.js is missing: is {iac} an iac checkout?"
        )
    if not api.is_dir() or not migrations.is_dir():
        raise MigrateError(
            f"no api migrations at {migrations}: clone hms-dbmi-cellenics/api at "
            f"{api} or set CELLENICS_API_PATH"
        )
    if shutil.which("node") is None:
        raise MigrateError("`node` is not on PATH: install Node.js 18 or newer")
    knex = folder / "node_modules" / ".bin" / "knex"
    if not knex.exists():
        raise MigrateError(f"{knex} is missing: run `npm install` in {folder} first")
    if not (api / "node_modules").is_dir():
        console.warn(
            f"{api}/node_modules is missing: migrations that require the api's "
            f"config (cell_metadata_tables) fail; run `npm install` in {api}"
        )
    action = ["migrate:rollback", "--all"] if down else ["migrate:latest"]
    return [str(knex), *action, "--migrations-directory", str(migrations)]


def migrate(settings: Settings, down: bool = False) -> int:
    """Run the migrations (or roll them all back) against the stack's PostgreSQL."""
    command = knex_command(settings, down)
    host, port = settings.client_host, settings.postgres_port
    if not can_connect(host, port):
        raise MigrateError(
            f"PostgreSQL does not answer on {host}:{port}: start the stack with "
            "INFRAMOCK_PROFILE=current (`make run`)"
        )
    if port != KNEXFILE_PORT:
        console.warn(
            f"INFRAMOCK_POSTGRES_PORT={port}, but iac's knexfile connects to "
            f"localhost:{KNEXFILE_PORT} in development"
        )
    env = child_environment(
        NODE_ENV="development",
        SANDBOX_ID=settings.sandbox_id,
        AWS_REGION=settings.region,
        AWS_ACCOUNT_ID=ACCOUNT_ID,
        DEV_ACCOUNT=settings.dev_account,
        PGHOST=host,
        PGPORT=str(port),
    )
    action = " ".join(command[1:-2])
    console.note(f"knex {action} in {migrations_folder(settings)}")
    return subprocess.run(
        command, cwd=migrations_folder(settings), env=env, check=False
    ).returncode
