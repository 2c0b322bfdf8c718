"""The inframock command line: `python -m populate <command>` (the Makefile's targets).

Parses arguments, resolves settings and dispatches; the work lives in the
modules it calls.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Callable

import click

from populate import compose, console
from populate.settings import Settings, SettingsError, portable_raw_settings


def _settings() -> Settings:
    try:
        return Settings.load()
    except SettingsError as err:
        console.error(str(err))
        sys.exit(2)


def _road(settings: Settings) -> compose.Road:
    """The road of INFRAMOCK_RUNTIME, announced; exit 2 if it cannot be taken."""
    try:
        return compose.take_road(settings)
    except compose.RoadError as err:
        console.error(str(err))
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """inframock: the Biomage (Cellenics) AWS stack and Redis, on this machine.

    Settings come from the environment and `.env` (see `.env.example`).
    """


@cli.command()
def run() -> None:
    """Start the stack in the foreground, provision it and load the data folder."""
    settings = _settings()
    road = _road(settings)
    if road.docker:
        compose.up(road, settings)
    # pylint: disable-next=import-outside-toplevel
    from populate.local_stack import run as run_local

    code = run_local(settings)
    sys.stdout.flush()
    # Loader threads may still be mid-request to the stopped engine: do not wait.
    os._exit(code)  # pylint: disable=protected-access


@cli.command("reload-data")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Load every file, also those unchanged since they were last loaded.",
)
def reload_data(everything: bool) -> None:
    """Load what changed in the data folder into the running stack.

    Removes nothing: what the Cellenics services generated stays.
    """
    # pylint: disable-next=import-outside-toplevel
    from populate.endpoint import EndpointRefused, check_endpoint_is_local

    settings = _settings()
    try:  # before any request to it, the probe below included
        check_endpoint_is_local(settings.aws_endpoint, settings.allow_endpoint)
    except EndpointRefused as err:
        console.error(str(err))
        sys.exit(1)
    road = _road(settings)
    if not road.docker:
        code = _reload_through_control(settings, everything)
        if code is not None:
            sys.exit(code)
    # pylint: disable-next=import-outside-toplevel
    from populate.status import stack_is_reachable

    if not stack_is_reachable(settings):
        console.error(
            f"no inframock stack answers at {settings.aws_endpoint}. "
            "Start one with `make run` (in another terminal), then reload."
        )
        sys.exit(1)
    if road.docker:
        compose.become(road.command(compose.RELOAD))
    sys.exit(_seed(settings, everything))


def _reload_through_control(settings: Settings, everything: bool) -> int | None:
    """Have the running `make run` reload with its warm clients; None if it cannot.

    The request carries this terminal's settings, so the reload means what it
    would mean run here.
    """
    # pylint: disable-next=import-outside-toplevel
    from populate import control
    from populate.state import StackRecord  # pylint: disable=import-outside-toplevel

    record = StackRecord.read_live(settings.state_dir)
    if record is None or not record.control:
        return None
    return control.call(
        Path(record.control),
        {
            "settings": portable_raw_settings(),
            "everything": everything,
            "terminal": console.console.is_terminal,
            "width": console.console.width,
        },
    )


@cli.command()
def seed() -> None:
    """Provision and load a stack that is already up (the Compose `populate` step)."""
    sys.exit(_seed(_settings()))


def _seed(settings: Settings, everything: bool = False) -> int:
    # pylint: disable-next=import-outside-toplevel
    from populate.seed import seed_status

    return seed_status(settings, everything)


@cli.command()
def stop() -> None:
    """Stop the stack that `make run` started in another terminal."""
    # pylint: disable-next=import-outside-toplevel
    from populate.status import stop_stack

    settings = _settings()
    road = _road(settings)
    if road.docker:
        compose.become(road.command(compose.DOWN))
    sys.exit(stop_stack(settings))


@cli.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the same facts as one JSON document (and nothing else), for scripts.",
)
def status(as_json: bool) -> None:
    """Each service (address, version, pid, uptime, memory) and the stack's contents.

    Per experiment: items per table and objects and bytes per bucket; then the
    buckets, the queue's depth and the topic's subscriptions. Exits 0 only when
    every service answers and every resource is provisioned.
    """
    # pylint: disable-next=import-outside-toplevel
    from populate.status import show_status

    settings = _settings()
    if not as_json:  # JSON mode prints the JSON document only
        road = _road(settings)
        if road.docker:
            compose.show_services(road)
    sys.exit(show_status(settings, as_json))


@cli.command()
def env() -> None:
    """Print `export` lines pointing aws-cli, SDKs and Redis clients at the stack.

    Use as: eval "$(make -s env)"
    """
    settings = _settings()
    exports = {
        "AWS_ENDPOINT_URL": settings.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
        "REDIS_URL": settings.redis_url,
    }
    for name, value in exports.items():
        click.echo(f"export {name}={shlex.quote(value)}")


@cli.command()
@click.argument("experiment")
@click.option(
    "--from",
    "environment",
    required=True,
    help="The environment to read from, e.g. staging or production.",
)
def pull(experiment: str, environment: str) -> None:
    """Copy EXPERIMENT from another environment into the data folder.

    Reads experiments-<env>, samples-<env>, projects-<env>, and
    EXPERIMENT's objects in biomage-source-<env>, processed-matrix-<env> and
    cell-sets-<env>, with your own AWS credentials (and AWS_PROFILE), or from
    INFRAMOCK_PULL_ENDPOINT when set, and never writes there. Writes only the
    files that changed into BIOMAGE_DATA_PATH/EXPERIMENT/; `make reload-data`
    then loads them.
    """
    # pylint: disable-next=import-outside-toplevel
    from populate import pull as pulling

    settings = _settings()
    try:
        report = pulling.pull(settings, experiment, environment)
    except pulling.PullError as err:
        console.error(str(err))
        sys.exit(1)
    pulling.summary(report, experiment, settings.data_path / experiment)


@cli.command()
@click.argument("name")
def snapshot(name: str) -> None:
    """Save the whole state of the running stack as snapshot NAME.

    Every table's items, every bucket's object versions, every queue's waiting
    messages (received and made visible again, not consumed), topics and
    subscriptions, and every Redis key with its TTL, into
    INFRAMOCK_SNAPSHOT_DIR/NAME/ (replacing a snapshot of that name).
    """
    # pylint: disable-next=import-outside-toplevel
    from populate import snapshot as snapshots

    _snapshot_command(snapshots.save, name)


@cli.command()
@click.argument("name")
def restore(name: str) -> None:
    """Replace the running stack's whole state with snapshot NAME.

    Removes every table, bucket, queue, topic and Redis key first (also what
    `make run` provisioned and loaded), then recreates the snapshot's exactly.
    """
    # pylint: disable-next=import-outside-toplevel
    from populate import snapshot as snapshots

    _snapshot_command(snapshots.restore, name)


def _snapshot_command(action: Callable[[Settings, str], object], name: str) -> None:
    # pylint: disable-next=import-outside-toplevel
    from populate.endpoint import EndpointRefused
    from populate.snapshot_format import (  # pylint: disable=import-outside-toplevel
        SnapshotError,
    )

    try:
        action(_settings(), name)
    except (SnapshotError, EndpointRefused) as err:
        console.error(str(err))
        sys.exit(1)


if __name__ == "__main__":
    cli(prog_name="python -m populate")  # pylint: disable=no-value-for-parameter
