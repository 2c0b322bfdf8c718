"""A real PostgreSQL server as a child of the embedded stack.

Production Cellenics runs Aurora PostgreSQL 16; the API and the knex
migrations connect to localhost:5431 as `postgres` / `dev_role` with no
password, database `aurora_db` (contract: api `src/sql/getConnectionParams.js`).
This module finds the binaries (INFRAMOCK_POSTGRES_BIN, then a `postgres` 14+
on PATH or in /usr/lib/postgresql/*/bin, then the pinned `pgserver` wheel's
PostgreSQL 16), runs initdb once into its data folder (kept across restarts:
`<state>/postgres`, or as root a private folder of its own, see
inframock.services.postgres.place), and after each start applies `init.sql` (roles and
grants of the original inframock's schema.sql). A failure to prepare it is one
EngineError naming the path and what to do.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from inframock.services.base import (
    EngineError,
    Service,
    child_environment,
    version_output,
)
from inframock.services.postgres import place as places
from inframock.core.settings import Settings

MIN_POSTGRES = 14
DATABASE = "aurora_db"
SUPERUSER = "postgres"
INIT_SQL = Path(__file__).with_name("init.sql")
CONNECT_TIMEOUT = 2


def postgres_service(settings: Settings) -> Service:
    """The PostgreSQL server of this stack, initialised on first start."""
    found, version = find_postgres(settings.postgres_bin)
    place = places.place_for(settings)
    bindir = places.binaries_for(found, place)
    data, run_as = place.data, place.run_as

    def prepare() -> None:
        places.prepare(place, found)
        initdb(bindir, data, run_as, version)

    host = settings.client_host
    listen = "*" if settings.bind in {"0.0.0.0", "::", ""} else settings.bind
    command = (
        str(bindir / "postgres"),
        "-D",
        str(data),
        "-p",
        str(settings.postgres_port),
        "-c",
        f"listen_addresses={listen}",
        "-c",
        "unix_socket_directories=",  # TCP only: no socket in /var/run to own
        "-c",
        "logging_collector=off",  # logs to stderr, relayed by the supervisor
    )
    return Service(
        name="postgres",
        description=f"postgresql {version}",
        command=command,
        env=child_environment(LC_ALL="C", TZ="UTC"),
        host=settings.bind,
        port=settings.postgres_port,
        is_ready=lambda: can_connect(host, settings.postgres_port),
        stop_signal=signal.SIGINT,  # fast shutdown: ends sessions, checkpoints
        death_signal=signal.SIGINT,
        run_as=run_as,
        prepare=prepare,
        on_ready=lambda: bootstrap(host, settings.postgres_port),
    )


def find_postgres(explicit: str) -> tuple[Path, str]:
    """The folder of the binaries to run and their version (e.g. `16.2`)."""
    if explicit:
        folder = Path(explicit).expanduser()
        version = postgres_version(folder / "postgres")
        if version is None:
            raise EngineError(
                f"INFRAMOCK_POSTGRES_BIN={explicit}: no postgres {MIN_POSTGRES} or "
                "newer in that folder (give the folder holding postgres and initdb)"
            )
        return folder, version
    candidates = [shutil.which("postgres")] + sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(re.sub(r"\D", "", p.split("/")[3]) or 0),
        reverse=True,
    )
    bundled = places.bundled_binary()
    for candidate in [*candidates, bundled]:
        if candidate and (version := postgres_version(Path(candidate))):
            return Path(candidate).resolve().parent, version
    raise EngineError(
        f"no PostgreSQL {MIN_POSTGRES}+ found: install one (`apt-get install "
        "postgresql`, `brew install postgresql@16`), set INFRAMOCK_POSTGRES_BIN to "
        "its bin folder, or install the pinned `pgserver` wheel (requirements.txt)"
    )


def postgres_version(binary: Path) -> str | None:
    """`16.2` if `binary` is a postgres server new enough, else None."""
    if not binary.is_file() or not (binary.parent / "initdb").is_file():
        return None
    out = version_output(str(binary))
    match = re.search(r"\(PostgreSQL\) (\d+)(\.\d+)?", out or "")
    if not match or int(match.group(1)) < MIN_POSTGRES:
        return None
    return match.group(1) + (match.group(2) or "")


def initdb(
    bindir: Path, data: Path, run_as: tuple[int, int] | None, version: str
) -> None:
    """Create the cluster in `data` unless it exists: superuser `postgres`,
    UTF8, trust authentication for loopback TCP only."""
    if (data / "PG_VERSION").is_file():
        _check_owner(data, run_as)
        made_by = (data / "PG_VERSION").read_text(encoding="utf-8").strip()
        if made_by != version.split(".", maxsplit=1)[0]:
            raise EngineError(
                f"{data} holds a PostgreSQL {made_by} database, but the server "
                f"found is {version}: run `make clean-sql` to start afresh, or set "
                f"INFRAMOCK_POSTGRES_BIN to a PostgreSQL {made_by}"
            )
        return
    data.mkdir(parents=True, exist_ok=True)  # as root, places.prepare made it
    data.chmod(0o700)
    try:
        result = _run_initdb(bindir / "initdb", data, run_as)
    except OSError as err:
        raise EngineError(_cannot_run(bindir / "initdb", run_as, err)) from None
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        said = [line for line in (result.stdout + result.stderr).splitlines() if line]
        raise EngineError(
            f"postgres: initdb failed in {data}: "
            f"{said[-1] if said else f'exit status {result.returncode}'}. "
            "Fix what it names (the disk, the folder's permissions), then start again"
        )
    (data / "pg_hba.conf").write_text(
        "# inframock: trust on loopback only, nothing else\n"
        "host all all 127.0.0.1/32 trust\n"
        "host all all ::1/128 trust\n",
        encoding="utf-8",
    )


def _run_initdb(
    binary: Path, data: Path, run_as: tuple[int, int] | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(binary),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--auth=reject",
            "--no-instructions",
        ],
        env=child_environment(LC_ALL="C"),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=(
            (lambda: _drop(run_as)) if run_as else None
        ),  # pylint: disable=subprocess-popen-preexec-fn
    )


def _cannot_run(binary: Path, run_as: tuple[int, int] | None, err: OSError) -> str:
    """The one line for a server binary that cannot be run (as `run_as`)."""
    whom = f"uid {run_as[0]}" if run_as else "you"
    why = " (PostgreSQL refuses root)" if run_as else ""
    return (
        f"postgres: cannot run {err.filename or binary} as {whom}{why}: "
        f"{err.strerror}. Make it runnable for {whom} (its run bit, and every "
        "folder above it enterable), or set INFRAMOCK_POSTGRES_BIN to another "
        "PostgreSQL bin folder (unset: the system's, else the bundled one)"
    )


def _drop(run_as: tuple[int, int]) -> None:
    os.setgroups([])
    os.setgid(run_as[1])
    os.setuid(run_as[0])


def _check_owner(data: Path, run_as: tuple[int, int] | None) -> None:
    owner = data.stat().st_uid
    expected = run_as[0] if run_as else os.geteuid()
    if owner != expected:
        raise EngineError(
            f"{data} belongs to uid {owner}, but PostgreSQL would run as uid "
            f"{expected}: remove it with `make clean-sql` or fix its owner"
        )


def can_connect(host: str, port: int, dbname: str = SUPERUSER) -> bool:
    """True when a real connection as `postgres` succeeds (readiness)."""
    import psycopg  # pylint: disable=import-outside-toplevel

    try:
        with psycopg.connect(
            host=host,
            port=port,
            user=SUPERUSER,
            dbname=dbname,
            connect_timeout=CONNECT_TIMEOUT,
        ):
            return True
    except psycopg.Error:
        return False


def server_version(host: str, port: int) -> str:
    """The server's own `postgresql <version>` (e.g. of a container); '' if it
    does not answer."""
    row = _first_row(host, port, SUPERUSER, "SHOW server_version")
    return f"postgresql {row[0].split()[0]}" if row else ""


def public_tables(host: str, port: int) -> int | None:
    """How many tables `aurora_db` has in its public schema (0 before `make
    migrate`); None if it does not answer."""
    row = _first_row(
        host,
        port,
        DATABASE,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'public'",
    )
    return int(row[0]) if row else None


def _first_row(host: str, port: int, database: str, query: str) -> Any:
    """The first row of `query` in `database`, as the superuser; None if the
    server does not answer."""
    import psycopg  # pylint: disable=import-outside-toplevel

    try:
        with psycopg.connect(
            host=host,
            port=port,
            user=SUPERUSER,
            dbname=database,
            connect_timeout=CONNECT_TIMEOUT,
        ) as connection:
            return connection.execute(query).fetchone()
    except psycopg.Error:
        return None


EMPTY_SCHEMA = (
    f"{DATABASE} has no tables yet: `make migrate` creates them "
    "(Cellenics' knex migrations, from ../iac and ../api)"
)


def bootstrap(host: str, port: int) -> None:
    """Create `aurora_db` if missing and apply init.sql (roles and grants)."""
    import psycopg  # pylint: disable=import-outside-toplevel

    try:
        _bootstrap(host, port)
    except psycopg.Error as err:
        raise EngineError(f"cannot set up database {DATABASE}: {err}") from None


def _bootstrap(host: str, port: int) -> None:
    import psycopg  # pylint: disable=import-outside-toplevel

    with psycopg.connect(
        host=host, port=port, user=SUPERUSER, dbname=SUPERUSER, autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    with psycopg.connect(
        host=host, port=port, user=SUPERUSER, dbname=DATABASE, autocommit=True
    ) as conn:
        conn.execute(INIT_SQL.read_text(encoding="utf-8").encode())
