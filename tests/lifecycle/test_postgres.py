"""PostgreSQL on the embedded road (INFRAMOCK_PROFILE=current): a real server.

Roles and grants as the original inframock's schema.sql, persistence across a
restart, `clean-sql`, supervision (port clash, kill -9), knex migrations run
the way `make migrate` runs Cellenics' (from a small knex project made here,
with knex and pg pinned in tests/knex), and SQL seeding from the data folder.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator

import psutil
import psycopg
import pytest
import yaml

from inframock.services.postgres.place import place_for
from inframock.services.postgres.server import INIT_SQL, find_postgres
from inframock.core.settings import Settings
from inframock.testing.harness import RunningStack, base_env, cli, free_port, wait_until
from tests.helpers import npm_ci

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KNEX = ROOT / "tests" / "knex"


@pytest.fixture(name="state_root")
def state_root_fixture() -> Iterator[Path]:
    """A folder of the test's own (0700, as `mktemp -d`): as root, PostgreSQL
    runs as another user, and finds its files all the same."""
    folder = Path(tempfile.mkdtemp(prefix="inframock-pg-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(name="pg_stack")
def pg_stack_fixture(state_root: Path) -> Iterator[Any]:
    """Start stacks with PostgreSQL on free ports; all are stopped afterwards."""
    env = base_env(
        state_root,
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_POSTGRES_PORT=str(free_port()),
    )
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as started:

        def start(**overrides: str) -> RunningStack:
            stack = RunningStack({**env, **overrides})
            started.callback(stack.stop)
            return stack

        yield start


def connect(stack: RunningStack, user: str = "postgres") -> psycopg.Connection[Any]:
    """A connection to the stack's aurora_db as `user` (no password: trust)."""
    return psycopg.connect(
        host="127.0.0.1",
        port=int(stack.env["INFRAMOCK_POSTGRES_PORT"]),
        user=user,
        dbname="aurora_db",
        autocommit=True,
    )


def postgres_pid(stack: RunningStack) -> int:
    """The pid of the stack's postmaster."""
    found = [p for p in stack.processes() if p.name() in {"postgres", "postmaster"}]
    assert found, stack.output
    return min(found, key=lambda p: p.create_time()).pid


def check_status_and_env(stack: RunningStack) -> None:
    """`make status` shows PostgreSQL up; `make env` points psql at it."""
    status = json.loads(stack.cli("status", "--json").stdout)
    postgres = [s for s in status["services"] if s["name"] == "postgres"]
    assert postgres and postgres[0]["up"] and postgres[0]["pid"], status["services"]
    exports = stack.cli("env").stdout
    port = stack.env["INFRAMOCK_POSTGRES_PORT"]
    assert f"export PGPORT={port}" in exports and "PGDATABASE=aurora_db" in exports


def test_roles_grants_persistence_and_clean_sql(pg_stack: Any) -> None:
    stack = pg_stack().wait_ready()
    data = place_for(Settings.load(stack.env, Path("/nonexistent"))).data
    assert (data / "PG_VERSION").is_file()
    assert "postgres  |" in stack.output  # its log is relayed
    with connect(stack) as conn:
        roles = dict(
            conn.execute(
                "SELECT rolname, rolcanlogin FROM pg_roles "
                "WHERE rolname IN ('api_role', 'dev_role')"
            ).fetchall()
        )
        assert roles == {"api_role": True, "dev_role": True}
        assert conn.execute(
            "SELECT pg_has_role('dev_role', 'postgres', 'MEMBER')"
        ).fetchone() == (True,)
        default_acl = conn.execute(
            "SELECT pg_get_userbyid(defaclrole), defaclacl::text FROM pg_default_acl"
        ).fetchall()
        assert default_acl == [("dev_role", "{api_role=arwd/dev_role}")]
        assert conn.execute(
            "SELECT has_schema_privilege('api_role', 'public', 'USAGE')"
        ).fetchone() == (True,)
        # The compose road's init SQL (the same file) runs again without error.
        conn.execute(INIT_SQL.read_text(encoding="utf-8").encode())
    # Tables dev_role creates (as migrations do) are readable and writable by
    # the API's role, through the default privileges.
    with connect(stack, "dev_role") as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO kept VALUES (1, 'survives a restart')")
    with connect(stack, "api_role") as conn:
        conn.execute("INSERT INTO kept VALUES (2, 'from the api')")
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE kept")
    check_status_and_env(stack)
    refused = stack.cli("clean-sql")
    assert refused.returncode != 0 and "stop it first" in refused.stdout
    assert data.is_dir()

    pid = postgres_pid(stack)
    stack.stop()
    assert "database system is shut down" in stack.output  # a clean stop
    assert not psutil.pid_exists(pid)

    again = pg_stack().wait_ready()
    with connect(again) as conn:
        rows = conn.execute("SELECT note FROM kept ORDER BY id").fetchall()
    assert rows == [("survives a restart",), ("from the api",)]
    again.stop()

    removed = cli(again.env, "clean-sql")
    assert removed.returncode == 0, removed.stdout
    assert not data.exists()
    fresh = pg_stack().wait_ready()
    with connect(fresh) as conn:
        assert conn.execute("SELECT to_regclass('public.kept')").fetchone() == (None,)


def test_a_taken_port_is_named(pg_stack: Any) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stack = pg_stack(INFRAMOCK_POSTGRES_PORT=str(port))
        assert stack.wait_exit(timeout=60) != 0
    assert f"port {port}" in stack.output
    assert "INFRAMOCK_POSTGRES_PORT" in stack.output


def test_no_orphan_after_kill_9(pg_stack: Any) -> None:
    stack = pg_stack().wait_ready()
    pid = postgres_pid(stack)
    stack.process.send_signal(signal.SIGKILL)
    stack.wait_exit()
    wait_until(lambda: not psutil.pid_exists(pid), 30, "postgres to exit")


def test_migrate_names_what_is_missing(tmp_path: Path) -> None:
    env = base_env(tmp_path, CELLENICS_IAC_PATH=str(tmp_path / "no-iac"))
    result = cli(env, "migrate")
    assert result.returncode != 0
    assert "no iac checkout" in result.stdout and "CELLENICS_IAC_PATH" in result.stdout


def test_the_bundled_server_is_postgresql_16() -> None:
    """The pinned wheel's binaries, used when no postgres 14+ is on PATH."""
    pgserver = pytest.importorskip("pgserver")
    bindir = Path(pgserver.__path__[0]) / "pginstall" / "bin"
    folder, version = find_postgres(str(bindir))
    assert folder == bindir and version.startswith("16.")


# --- migrations and SQL seeding ---------------------------------------------

KNEXFILE = """\
// Like iac's migrations/sql-migrations/knexfile.js in development, with the
// test's port instead of 5431.
module.exports = async () => {
  for (const name of ['NODE_ENV', 'SANDBOX_ID', 'AWS_REGION', 'AWS_ACCOUNT_ID']) {
    if (!process.env[name]) throw new Error(`${name} is not set`);
  }
  return {
    development: {
      client: 'postgresql',
      connection: {
        host: 'localhost', port: Number(process.env.PGPORT), user: 'dev_role',
        password: 'postgres', database: 'aurora_db',
      },
      migrations: { directory: '../../../api/src/sql/migrations' },
    },
  };
};
"""

MIGRATION = """\
exports.up = async (knex) => {
  await knex.schema.createTable('experiment', (t) => {
    t.string('id').primary(); t.string('name').notNullable(); t.jsonb('config');
  });
  await knex.schema.createTable('sample', (t) => {
    t.uuid('id').primary(); t.string('name').notNullable();
    t.string('experiment_id').notNullable().references('experiment.id');
  });
  await knex.schema.createTable('a_sample_note', (t) => {
    t.uuid('sample_id').references('sample.id'); t.text('note');
  });
};
exports.down = async (knex) => {
  await knex.schema.dropTable('a_sample_note');
  await knex.schema.dropTable('sample');
  await knex.schema.dropTable('experiment');
};
"""

SAMPLE_1 = "11111111-1111-1111-1111-111111111111"


@pytest.fixture(scope="module", name="knex_modules")
def knex_modules_fixture() -> Path:
    """tests/knex with its pinned knex and pg installed by `npm ci`."""
    return npm_ci(KNEX, "the migration tests") / "node_modules"


def checkouts(root: Path, modules: Path) -> tuple[Path, Path]:
    """Sibling `iac` and `api` checkouts shaped like Cellenics', made small."""
    folder = root / "iac" / "migrations" / "sql-migrations"
    folder.mkdir(parents=True)
    (folder / "knexfile.js").write_text(KNEXFILE)
    (folder / "node_modules").symlink_to(modules)
    migrations = root / "api" / "src" / "sql" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "20240101000000_tables.js").write_text(MIGRATION)
    (root / "api" / "node_modules").mkdir()
    return root / "iac", root / "api"


def write_sql(data: Path) -> None:
    """Rows whose tables depend on each other; one of them bad."""
    sql = data / "exp-1" / "sql"
    sql.mkdir(parents=True)
    # Named so that file order is the wrong order: children first.
    (sql / "a_sample_note.json").write_text(
        json.dumps([{"sample_id": SAMPLE_1, "note": "first"}])
    )
    (sql / "sample.json").write_text(
        json.dumps(
            [
                {"id": SAMPLE_1, "name": "s1", "experiment_id": "exp-1"},
                {
                    "id": "22222222-2222-2222-2222-222222222222",
                    "name": "orphan",
                    "experiment_id": "no-such-experiment",
                },
            ]
        )
    )
    (sql / "experiment.json").write_text(
        json.dumps([{"id": "exp-1", "name": "one", "config": {"a": [1, 2]}}])
    )


def test_migrations_and_sql_seeding(
    pg_stack: Any, knex_modules: Path, state_root: Path
) -> None:
    iac, api = checkouts(state_root / "checkouts", knex_modules)
    data = state_root / "data"
    write_sql(data)
    bundled = pytest.importorskip("pgserver")
    stack = pg_stack(
        CELLENICS_IAC_PATH=str(iac),
        CELLENICS_API_PATH=str(api),
        BIOMAGE_DATA_PATH=str(data),
        # The wheel's PostgreSQL 16, as production's Aurora.
        INFRAMOCK_POSTGRES_BIN=str(Path(bundled.__path__[0]) / "pginstall" / "bin"),
    ).wait_ready()
    assert "postgresql 16." in stack.output
    assert "run `make migrate`" in stack.output  # tables not there yet

    up = stack.cli("migrate")
    assert "Batch 1 run: 1 migrations" in up.stdout, up.stdout
    assert "inserted 1 experiment, 1 sample, 1 a_sample_note" in up.stdout
    assert "exp-1/sql/sample.json: row 1:" in up.stdout
    assert "foreign key" in up.stdout
    assert up.returncode == 1  # a bad row is a problem, the good ones loaded
    with connect(stack, "api_role") as conn:
        assert conn.execute("SELECT config FROM experiment").fetchall() == [
            ({"a": [1, 2]},)
        ]
        assert conn.execute("SELECT name FROM sample").fetchall() == [("s1",)]
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'sample'"
        ).fetchone()
        assert owner == ("dev_role",)

    again = stack.cli("seed-sql")
    assert "inserted none; 3 row(s) already there" in again.stdout, again.stdout

    down = stack.cli("migrate", "--down")
    assert down.returncode == 0, down.stdout
    assert "Batch 1 rolled back: 1 migrations" in down.stdout, down.stdout
    with connect(stack) as conn:
        assert conn.execute("SELECT to_regclass('public.sample')").fetchone() == (None,)


# --- the Compose road's service, statically ----------------------------------


def test_compose_postgres_is_pinned_16_in_a_profile_with_a_volume() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = spec["services"]["postgres"]
    assert service["profiles"] == ["postgres"]  # `docker compose up` unchanged
    assert service["image"].startswith("postgres:16.")
    assert service["environment"]["POSTGRES_DB"] == "aurora_db"
    assert service["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert service["ports"] == [
        "${INFRAMOCK_BIND:-127.0.0.1}:${INFRAMOCK_POSTGRES_PORT:-5431}:5432"
    ]
    mounts = dict(v.rsplit(":", 2)[:2] for v in service["volumes"])
    init = mounts["./inframock/services/postgres/init.sql"]
    assert init.startswith("/docker-entrypoint-initdb.d/")
    assert (ROOT / "inframock/services/postgres/init.sql").samefile(INIT_SQL)
    assert mounts["pg_data"] == "/var/lib/postgresql/data"
    assert "pg_data" in spec["volumes"]
    assert "pg_isready" in service["healthcheck"]["test"]
