"""A real PostgreSQL server as a child of the embedded stack.

Production Cellenics runs Aurora PostgreSQL 16; the API and the knex
migrations connect to localhost:5431 as `postgres` / `dev_role` with no
password, database `aurora_db` (contract: api `src/sql/getConnectionParams.js`).
This module finds the binaries (INFRAMOCK_POSTGRES_BIN, then a `postgres` 14+
on PATH or in /usr/lib/postgresql/*/bin, then the pinned `pgserver` wheel's
PostgreSQL 16), runs initdb once into `<state>/postgres` (kept across
restarts), and after each start applies `init.sql` (roles and grants of the
original inframock's schema.sql). PostgreSQL refuses to run as root: as root
the server runs as the owner of the state folder, or `nobody`.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path

from inframock.embedded.engines import (
    EngineError,
    Service,
    child_environment,
    version_output,
)
from inframock.settings import Settings

MIN_POSTGRES = 14
DATABASE = "aurora_db"
SUPERUSER = "postgres"
INIT_SQL = Path(__file__).with_name("init.sql")
CONNECT_TIMEOUT = 2


def data_dir(settings: Settings) -> Path:
    """Where the cluster lives: kept across restarts, removed by `make clean-sql`."""
    return settings.state_dir.absolute() / "postgres"


def postgres_service(settings: Settings) -> Service:
    """The PostgreSQL server of this stack, initialised on first start."""
    bindir, version = find_postgres(settings.postgres_bin)
    data = data_dir(settings)
    run_as = _unprivileged_owner(settings.state_dir) if os.geteuid() == 0 else None
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
        prepare=lambda: initdb(bindir, data, run_as, version),
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
    bundled = _bundled()
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


def _bundled() -> str | None:
    """The postgres inside the pinned pgserver wheel (found, not imported)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(spec.submodule_search_locations[0]) / "pginstall/bin/postgres"
    return str(binary) if binary.is_file() else None


def _unprivileged_owner(state_dir: Path) -> tuple[int, int]:
    """Who runs PostgreSQL for root: the state folder's owner, else nobody."""
    folder = state_dir.absolute()
    while not folder.exists():
        folder = folder.parent
    info = folder.stat()
    if info.st_uid != 0:
        return info.st_uid, info.st_gid
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


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
    data.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        os.chown(data, *run_as)
        _check_reachable(data, run_as)
    data.chmod(0o700)
    result = subprocess.run(
        [
            str(bindir / "initdb"),
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
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise EngineError(f"initdb failed in {data}:\n{result.stdout}{result.stderr}")
    (data / "pg_hba.conf").write_text(
        "# inframock: trust on loopback only, nothing else\n"
        "host all all 127.0.0.1/32 trust\n"
        "host all all ::1/128 trust\n",
        encoding="utf-8",
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


def _check_reachable(data: Path, run_as: tuple[int, int]) -> None:
    """PostgreSQL, run as another user for root, must be able to reach `data`."""
    for folder in data.parents:
        mode = folder.stat().st_mode
        if not mode & 0o001 and folder.stat().st_uid != run_as[0]:
            raise EngineError(
                f"PostgreSQL runs as uid {run_as[0]} (it refuses root) and cannot "
                f"reach {data}: {folder} is not searchable by others. Use an "
                "INFRAMOCK_STATE_DIR under a folder others can enter."
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
    import psycopg  # pylint: disable=import-outside-toplevel

    try:
        with psycopg.connect(
            host=host,
            port=port,
            user=SUPERUSER,
            dbname=SUPERUSER,
            connect_timeout=CONNECT_TIMEOUT,
        ) as connection:
            row = connection.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return ""
    return f"postgresql {row[0].split()[0]}" if row else ""


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
