"""The commands of the stack's state: snapshot, restore, clean-state, and
PostgreSQL's (migrate, seed-sql, clean-sql); and the result relay."""

from __future__ import annotations

import click

from inframock.core.settings import Settings
from inframock.roads import found
from inframock.roads.base import Outcome
from inframock.roads.choice import take_road

# Each command imports what it runs: boto3 and psycopg behind them are not
# needed by every command.
# pylint: disable=import-outside-toplevel


@click.command()
@click.argument("name")
def snapshot(name: str) -> None:
    """Save the whole state of the running stack as snapshot NAME.

    Every table's items, every bucket's object versions, every queue's waiting
    messages (received and made visible again, not consumed), topics and
    subscriptions, and every Redis key with its TTL, into
    INFRAMOCK_SNAPSHOT_DIR/NAME/ (replacing a snapshot of that name).
    """
    from inframock.features.snapshot import command as snapshots

    snapshots.save(found.load_client_settings(), name)


@click.command()
@click.argument("name")
def restore(name: str) -> None:
    """Replace the running stack's whole state with snapshot NAME.

    Removes every table, bucket, queue, topic and Redis key first (also what
    `make run` provisioned and loaded), then recreates the snapshot's exactly.
    """
    from inframock.features.snapshot import command as snapshots

    snapshots.restore(found.load_client_settings(), name)


@click.command("clean-state")
def clean_state() -> int:
    """Forget the state INFRAMOCK_PERSIST saved (AWS engine and Redis), only
    while the stack is stopped: the next start is clean."""
    from inframock.roads.embedded.persisted import clean_state as forget

    return forget(Settings.load())


@click.command()
@click.option("--down", is_flag=True, help="Roll back every migration instead.")
def migrate(down: bool) -> int:
    """Run Cellenics' knex migrations (iac + api checkouts), then seed sql/ files."""
    from inframock.features.sql.commands import migrate as run_migrations

    return run_migrations(found.load_client_settings(), down)


@click.command("seed-sql")
def seed_sql() -> int:
    """Insert the data folder's `<experiment>/sql/<table>.json` rows into PostgreSQL."""
    from inframock.services.postgres.seed_sql import load_sql

    return load_sql(found.load_client_settings())


@click.command("clean-sql")
def clean_sql() -> Outcome:
    """Remove PostgreSQL's data folder (only while the stack is stopped); on the
    Docker road the project's `pg_data` volume (Docker refuses while a
    container of the project uses it)."""
    settings = Settings.load()
    return take_road(settings).clean_sql(settings)


@click.command()
def relay() -> int:
    """Run the result relay of the profile in the foreground (the Compose
    `relay` service): drain its queue and POST each result to the API, until
    SIGTERM or Ctrl-C. `make run` on the embedded road runs it by itself."""
    from inframock.aws.endpoint import check_endpoint_is_local
    from inframock.services.relay.delivery import serve

    settings = Settings.load()
    check_endpoint_is_local(settings.aws_endpoint, settings.allow_endpoint)
    return serve(settings)


COMMANDS = [snapshot, restore, clean_state, migrate, seed_sql, clean_sql, relay]
