"""PostgreSQL as a service of the stack (profile `current`): its declaration.

On the embedded road a supervised child (inframock.services.postgres.server)
whose roles are bootstrapped once it answers; on the Docker road the
`postgres` container, whose volume `make stop` keeps. On both roads the data
folder's `sql/*.json` rows are loaded once the rest is seeded, status and the
banner say when `aurora_db` has no tables yet (before `make migrate`), and
`make env` points psql and libpq clients at it (no password: trust).
"""

from __future__ import annotations

import time
from pathlib import Path

from inframock.core import console
from inframock.core.settings import Settings, url_host
from inframock.services.base import (
    Declaration,
    Rows,
    Service,
    ServiceStatus,
    with_process,
)
from inframock.services.postgres.seed_sql import load_sql
from inframock.services.postgres.server import (
    DATABASE,
    EMPTY_SCHEMA,
    SUPERUSER,
    can_connect,
    postgres_service,
    public_tables,
    server_version,
)


def _address(settings: Settings) -> str:
    return (
        f"postgresql://{SUPERUSER}@{url_host(settings.client_host)}:"
        f"{settings.postgres_port}/{DATABASE}"
    )


def _status(settings: Settings, recorded: str, pid: int | None) -> ServiceStatus:
    """Up when the server answers; its version as recorded by `make run`, else
    as the server says (a Compose container)."""
    answered = server_version(settings.client_host, settings.postgres_port)
    version = recorded or answered or "?"
    service = ServiceStatus("postgres", bool(answered), _address(settings), version)
    return with_process(service, pid) if service.up else service


def _has_no_tables(settings: Settings) -> bool:
    """True when `aurora_db` answers with no tables (before `make migrate`)."""
    return public_tables(settings.client_host, settings.postgres_port) == 0


def _warnings(settings: Settings) -> list[str]:
    return [f"postgres: {EMPTY_SCHEMA}"] if _has_no_tables(settings) else []


def _banner_rows(settings: Settings) -> Rows:
    return [("postgres", EMPTY_SCHEMA)] if _has_no_tables(settings) else []


def _exports(settings: Settings) -> dict[str, str]:
    """psql and libpq clients: no password (trust on loopback)."""
    return {
        "PGHOST": settings.client_host,
        "PGPORT": str(settings.postgres_port),
        "PGUSER": SUPERUSER,
        "PGDATABASE": DATABASE,
    }


def _load_sql_when_ready(settings: Settings, wait: float) -> int:
    """The data folder's `sql/*.json`, once the server answers (a container's
    first start runs initdb first); 1 with a warning if it never does."""
    host, port = settings.client_host, settings.postgres_port
    deadline = time.monotonic() + wait
    while not can_connect(host, port):
        if time.monotonic() > deadline:
            console.warn(
                f"postgres does not answer on {host}:{port} after {wait:.0f} s: its "
                "sql/ files were not loaded (`make seed-sql` once it answers)"
            )
            return 1
        time.sleep(0.5)
    return load_sql(settings)


def _child(settings: Settings, _: Path) -> Service:
    return postgres_service(settings)


DECLARATION = Declaration(
    name="postgres",
    child=_child,
    port_field="postgres_port",
    address=_address,
    status=_status,
    warnings=_warnings,
    banner_rows=_banner_rows,
    exports=_exports,
    after_load=_load_sql_when_ready,
    keeps_volumes=True,
)
