"""SQL seeding: `<experiment>/sql/<table>.json` (a list of rows) into PostgreSQL.

Runs after the migrations (`make migrate`, and `make run` once the tables
exist). Tables are filled parents first, in the order their foreign keys
require (read from the catalog, not hard-coded, so new migrations need no
change here). Each row is its own savepoint: a bad row is reported with its
file, index and PostgreSQL's reason, and the good rows still load. Rows that
are already there (same primary or unique key) are left as they are, so
seeding twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from inframock.core.settings import Settings
from inframock.data.dataset import EXPERIMENT_ID, Problem
from inframock.services.postgres.server import DATABASE, SUPERUSER

SQL_FOLDER = "sql"
JSON_TYPES = frozenset({"json", "jsonb"})


@dataclasses.dataclass
class SqlSeedReport:
    """Rows inserted per table, rows already there, and what went wrong."""

    inserted: dict[str, int] = dataclasses.field(default_factory=dict)
    existing: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)
    missing_tables: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Rows:
    experiment: str
    file: str
    table: str
    rows: list[Any]


def sql_files(data_path: Path) -> list[tuple[str, Path]]:
    """(experiment id, file) for every `sql/*.json` of the data folder."""
    if not data_path.is_dir():
        return []
    found = []
    for experiment in sorted(data_path.iterdir()):
        folder = experiment / SQL_FOLDER
        if EXPERIMENT_ID.fullmatch(experiment.name) and folder.is_dir():
            found += [(experiment.name, f) for f in sorted(folder.glob("*.json"))]
    return found


def seed_sql(data_path: Path, host: str, port: int) -> SqlSeedReport:
    """Insert every row of the data folder's SQL files that is not there yet."""
    import psycopg  # pylint: disable=import-outside-toplevel

    report = SqlSeedReport()
    files = [_read(exp, path, report) for exp, path in sql_files(data_path)]
    batches = [f for f in files if f is not None]
    if not batches:
        return report
    with psycopg.connect(
        host=host, port=port, user=SUPERUSER, dbname=DATABASE, autocommit=False
    ) as conn:
        tables = {b.table for b in batches}
        known = _existing_tables(conn, tables)
        report.missing_tables = sorted(tables - known)
        for batch in batches:
            if batch.table not in known:
                report.problems.append(
                    Problem(
                        batch.experiment,
                        batch.file,
                        f"no table {batch.table} in {DATABASE}: run `make migrate`",
                    )
                )
        order = dependency_order(conn, known)
        for batch in sorted(
            (b for b in batches if b.table in known),
            key=lambda b: order.index(b.table),
        ):
            _insert(conn, batch, report)
        conn.commit()
    return report


def _read(experiment: str, path: Path, report: SqlSeedReport) -> _Rows | None:
    name = f"{SQL_FOLDER}/{path.name}"
    try:
        rows = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        report.problems.append(Problem(experiment, name, f"unreadable JSON: {err}"))
        return None
    if not isinstance(rows, list):
        report.problems.append(
            Problem(experiment, name, "expected a JSON list of rows (objects)")
        )
        return None
    return _Rows(experiment, name, path.stem, rows)


def _existing_tables(conn: Any, tables: set[str]) -> set[str]:
    found = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_name = ANY(%s)",
        (sorted(tables),),
    ).fetchall()
    return {row[0] for row in found}


def dependency_order(conn: Any, tables: set[str]) -> list[str]:
    """`tables` sorted so that every table comes after those it references."""
    edges = conn.execute(
        "SELECT DISTINCT child.relname, parent.relname FROM pg_constraint c "
        "JOIN pg_class child ON child.oid = c.conrelid "
        "JOIN pg_class parent ON parent.oid = c.confrelid "
        "JOIN pg_namespace n ON n.oid = child.relnamespace "
        "WHERE c.contype = 'f' AND n.nspname = 'public'"
    ).fetchall()
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in edges:
        if child in parents and parent in tables and parent != child:
            parents[child].add(parent)
    order: list[str] = []
    while parents:
        ready = sorted(t for t, deps in parents.items() if not deps - set(order))
        if not ready:  # a cycle: keep a stable order for the rest
            ready = sorted(parents)
        for table in ready:
            order.append(table)
            del parents[table]
    return order


def _column_types(conn: Any, table: str) -> dict[str, str]:
    """Column name -> its type as SQL spells it (`uuid`, `character varying(255)`)."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        (f'public."{table}"',),
    ).fetchall()
    return dict(rows)


def _has_unique_key(conn: Any, table: str) -> bool:
    """True when ON CONFLICT can tell a row is there (a primary or unique key)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisunique",
        (f'public."{table}"',),
    ).fetchone()
    return bool(row and row[0])


def _statement(
    table: str, columns: list[str], types: dict[str, str], keyed: bool
) -> Any:
    """INSERT of one row that does nothing when the row is there already.

    With a key, ON CONFLICT DO NOTHING; without one (a map table with no
    key), only when no row has the same values in these columns.
    """
    from psycopg import sql  # pylint: disable=import-outside-toplevel

    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    values = sql.SQL(", ").join(
        sql.SQL("%s::{}").format(sql.SQL(types[c])) for c in columns
    )
    if keyed:
        return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
            sql.Identifier(table), names, values
        )
    same = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT DISTINCT FROM %s::{}").format(
            sql.Identifier(c), sql.SQL(types[c])
        )
        for c in columns
    )
    return sql.SQL(
        "INSERT INTO {} ({}) SELECT {} WHERE NOT EXISTS (SELECT 1 FROM {} WHERE {})"
    ).format(sql.Identifier(table), names, values, sql.Identifier(table), same)


def _row_problem(row: Any, table: str, types: dict[str, str]) -> str | None:
    """Why `row` cannot be a row of `table`, before asking PostgreSQL."""
    if not isinstance(row, dict) or not row:
        return "expected a non-empty JSON object of column: value"
    if unknown := sorted(set(row) - set(types)):
        return f"no column {', '.join(unknown)} in table {table}"
    return None


def _insert(conn: Any, batch: _Rows, report: SqlSeedReport) -> None:
    # pylint: disable-next=import-outside-toplevel
    from psycopg import Error
    from psycopg.types.json import Jsonb  # pylint: disable=import-outside-toplevel

    types = _column_types(conn, batch.table)
    keyed = _has_unique_key(conn, batch.table)
    for index, row in enumerate(batch.rows):
        where = f"row {index}"
        if problem := _row_problem(row, batch.table, types):
            report.problems.append(
                Problem(batch.experiment, batch.file, problem, where)
            )
            continue
        values = [
            Jsonb(v) if types[k] in JSON_TYPES and v is not None else v
            for k, v in row.items()
        ]
        if not keyed:
            values = values + values  # once to insert, once to compare
        try:
            with conn.transaction():
                inserted = conn.execute(
                    _statement(batch.table, list(row), types, keyed), values
                ).rowcount
        except Error as err:
            reason = (err.diag.message_primary or str(err)).strip()
            report.problems.append(Problem(batch.experiment, batch.file, reason, where))
            continue
        if inserted:
            report.inserted[batch.table] = report.inserted.get(batch.table, 0) + 1
        else:
            report.existing += 1


def print_report(report: SqlSeedReport) -> None:
    """One line of what was loaded, then one warning per problem."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.core import console

    if report.inserted or report.existing:
        counts = ", ".join(f"{n} {t}" for t, n in report.inserted.items()) or "none"
        console.note(f"sql: inserted {counts}; {report.existing} row(s) already there")
    for problem in report.problems:
        console.warn(f"sql: {problem}")


def load_sql(settings: Settings) -> int:
    """Insert the data folder's `sql/*.json` rows; 1 if any problem."""
    report = seed_sql(settings.data_path, settings.client_host, settings.postgres_port)
    print_report(report)
    return 1 if report.problems else 0
