"""The inframock command line: `inframock <command>` (the Makefile's targets).

Parses arguments, resolves settings and dispatches; the work lives in the
modules it calls.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from inframock.roads import compose
from inframock.core.errors import InframockError, UsageError, reported
from inframock.core import console
from inframock.views.status import status_report
from inframock.views.tables import fitted
from inframock.core.private import keep_private
from inframock.core.settings import Settings, portable_raw_settings

if TYPE_CHECKING:
    from inframock.features.status import StackStatus


class _Commands(click.Group):
    """The command group: every InframockError is printed here, once, as the
    command's exit status (see `inframock.core.errors`)."""

    def invoke(self, ctx: click.Context) -> object:
        result: list[object] = []

        def work() -> int:
            result.append(click.Group.invoke(self, ctx))
            return 0

        code = reported(work)
        if code:
            sys.exit(code)
        return result[0]


def _say_stale(settings: Settings) -> None:
    """Before a start: one line on what a killed stack's record left."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded.found import stale_record

    if stale := stale_record(settings):
        console.warn(stale)


def _client_settings() -> Settings:
    """The settings of a command that talks to the stack: pointed at the
    running stack's recorded endpoints (said on stderr when they differ), after
    saying what a stale record of a killed stack leaves."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded import found

    settings = Settings.load()
    if stale := found.stale_record(settings):
        found.aside(stale)
    return found.client_settings(settings)


def _road(settings: Settings, quiet: bool = False) -> compose.Road:
    """The road of INFRAMOCK_RUNTIME, announced unless `quiet` (RoadError if it
    cannot be taken)."""
    return compose.take_road(settings, quiet)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """inframock: the Biomage (Cellenics) AWS stack and Redis, on this machine.

    Settings come from the environment and `.env` (see `.env.example`).
    """
    keep_private()  # the state, snapshots and pulls: the user's only


verbose_flag = click.option(
    "--verbose",
    "-v",
    is_flag=True,
    envvar="INFRAMOCK_VERBOSE",
    help="Show every line of the services on the terminal too, not only in "
    "the state folder's stack.log (INFRAMOCK_VERBOSE=1).",
)


@cli.command()
@click.option("--detached", is_flag=True, hidden=True)
@verbose_flag
def run(detached: bool, verbose: bool) -> None:
    """Start the stack in the foreground, provision it and load the data folder."""
    settings = Settings.load()
    _say_stale(settings)
    _refuse_persist_on_docker(settings, settings.runtime == "docker")
    road = _road(settings, quiet=detached)
    _refuse_persist_on_docker(settings, road.docker)
    _first_use(settings)
    if road.docker:
        sys.exit(compose.up(road, settings))
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded.run import run as run_local

    code = reported(lambda: run_local(settings, detached, verbose))
    sys.stdout.flush()
    # Loader threads may still be mid-request to the stopped engine: do not wait.
    os._exit(code)  # pylint: disable=protected-access


def _refuse_persist_on_docker(settings: Settings, docker: bool) -> None:
    """UsageError for INFRAMOCK_PERSIST on the Docker road, which does not keep
    state (its engine and Redis run in containers that start clean)."""
    if docker and settings.persist:
        raise UsageError(
            "INFRAMOCK_PERSIST keeps the state of the embedded road only; the "
            "Docker road always starts clean. Use INFRAMOCK_RUNTIME=local, or "
            "`make snapshot`/`make restore` on the Docker road"
        )


def _first_use(settings: Settings) -> None:
    """Write the default experiment into ./data when that (the default data
    folder) holds no experiment yet: the repository does not store it."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.data.default import ensure_default

    started = time.monotonic()
    written = ensure_default(settings.data_path)
    if written is not None:
        total = sum(p.stat().st_size for p in written.iterdir())
        console.note(
            f"first use: wrote the default experiment to {written} "
            f"({console.size(total)}, {time.monotonic() - started:.1f} s); "
            "`make default-data` rewrites it"
        )


@cli.command()
@verbose_flag
def start(verbose: bool) -> None:
    """Start the stack in the background: the same checks and banner as `run`,
    then return once it is ready (its log is the state folder's stack.log;
    `logs` shows it, `stop` stops the stack). Embedded road only."""
    settings = Settings.load()
    _say_stale(settings)
    road = _road(settings)
    if road.docker:
        raise UsageError(
            "`make start` runs the embedded stack only; on the Docker road use "
            "`make run` (foreground), or INFRAMOCK_RUNTIME=local make start"
        )
    _first_use(settings)
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded.background import start as start_detached

    sys.exit(start_detached(settings, verbose))


@cli.command()
@click.option(
    "-f", "--follow", is_flag=True, help="Keep printing until the stack stops."
)
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=None,
    help="Only the last N lines.",
)
def logs(follow: bool, lines: int | None) -> None:
    """Print the log of the stack `start` runs in the background (stack.log in
    the state folder; the previous start's is stack.log.1) and return; with
    `--follow`, keep printing until the stack stops. On the Docker road: the
    containers' logs (`docker compose logs`, `-f` to follow)."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded.background import logs as show_logs

    settings = Settings.load()
    road = _road(settings, quiet=True)
    if road.docker:
        compose.become(road.command(compose.logs_args(follow, lines)))
    sys.exit(show_logs(settings, follow, lines))


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
    from inframock.aws.endpoint import check_endpoint_is_local

    settings = _client_settings()
    # Before any request to it, the probe below included.
    check_endpoint_is_local(settings.aws_endpoint, settings.allow_endpoint)
    road = _road(settings)
    if not road.docker:
        code = _reload_through_control(settings, everything)
        if code is not None:
            sys.exit(code)
    # pylint: disable-next=import-outside-toplevel
    from inframock.core.probes import stack_is_reachable

    if not stack_is_reachable(settings):
        raise InframockError(
            f"no inframock stack answers at {settings.aws_endpoint}. "
            "Start one with `make run` (in another terminal), then reload."
        )
    if road.docker:
        compose.become(road.command(compose.reload_args(everything)))
    sys.exit(_seed(settings, everything))


def _reload_through_control(settings: Settings, everything: bool) -> int | None:
    """Have the running `make run` reload with its warm clients; None if it cannot.

    The request carries this terminal's settings, so the reload means what it
    would mean run here.
    """
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded import control

    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded.record import StackRecord

    record = StackRecord.read_live(settings.state_dir)
    if record is None or not record.control:
        return None
    return control.call(
        Path(record.control),
        {
            "settings": portable_raw_settings(),
            "everything": everything,
            "terminal": console.terminal.is_terminal,
            "width": console.terminal.width,
        },
    )


@cli.command()
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Load every file, also those unchanged since they were last loaded.",
)
def seed(everything: bool) -> None:
    """Provision and load a stack that is already up (the Compose `populate` step)."""
    sys.exit(_seed(Settings.load(), everything))


def _seed(settings: Settings, everything: bool = False) -> int:
    # pylint: disable-next=import-outside-toplevel
    from inframock.features.seed.seed import seed_status

    return seed_status(settings, everything)


@cli.command()
def relay() -> None:
    """Run the result relay of the profile in the foreground (the Compose
    `relay` service): drain its queue and POST each result to the API, until
    SIGTERM or Ctrl-C. `make run` on the embedded road runs it by itself."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.aws.endpoint import check_endpoint_is_local

    # pylint: disable-next=import-outside-toplevel
    from inframock.services.relay.delivery import serve

    settings = Settings.load()
    check_endpoint_is_local(settings.aws_endpoint, settings.allow_endpoint)
    sys.exit(serve(settings))


@cli.command()
def stop() -> None:
    """Stop the stack that `make start` started, or `make run` in another terminal."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded.stop import stop_stack

    settings = Settings.load()
    road = _road(settings)
    if road.docker:
        compose.become(road.command(compose.down_args(road)))
    sys.exit(stop_stack(settings))


@cli.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the same facts as one JSON document (and nothing else), for scripts.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Every table: items per table and objects per bucket of each "
    "experiment, the buckets, the queue, the topic and the pipeline runs.",
)
def status(as_json: bool, verbose: bool) -> None:
    """Each service (address, version, pid, uptime, memory), the profile, what
    is wrong, and one line per experiment (`--verbose`: every table).

    Uses the running stack's recorded endpoints. Exits 0 only when every
    service answers and every resource is provisioned.
    """
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded import found

    # pylint: disable-next=import-outside-toplevel
    from inframock.features.status import collect_status

    settings = Settings.load()
    stale = found.stale_record(settings)
    settings = found.client_settings(settings)
    road = _road(settings, quiet=as_json)  # JSON mode prints the JSON only
    aws_version = ""
    if road.docker:  # no record of `make run` says which engine runs
        if not as_json:
            compose.show_services(road)
        aws_version = compose.engine_version(road)
    report = collect_status(settings, aws_version, stale)
    report.compose_project = road.project if road.docker else None
    if road.docker:
        _add_containers(report, road, settings)
    if as_json:
        console.json_document(dataclasses.asdict(report))
    else:
        status_report(report, verbose)
    sys.exit(0 if report.healthy else 1)


def _add_containers(
    report: StackStatus, road: compose.Road, settings: Settings
) -> None:
    """The profile's services status cannot ask over a socket (the relay), as
    their Compose containers: healthy only while running."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.services.base import ServiceStatus

    known = {service.name for service in report.services}
    for name, state in compose.container_services(road, settings, known):
        report.services.append(
            ServiceStatus(name, state == "running", "container", state)
        )
        report.healthy = report.healthy and state == "running"


@cli.command()
def env() -> None:
    """Print `export` lines pointing aws-cli, SDKs and Redis clients at the stack.

    Use as: eval "$(make -s env)". When a stack runs, its own endpoints (and
    a line on stderr if they differ from the settings).
    """
    # pylint: disable-next=import-outside-toplevel
    from inframock.services.registry import services_for

    settings = _client_settings()
    exports = {
        name: value
        for service in services_for(settings)
        for name, value in service.exports(settings).items()
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
@click.option(
    "--account",
    default="",
    help="The environment's AWS account, which the current profile's bucket "
    "names end with (default: the account of your credentials).",
)
def pull(experiment: str, environment: str, account: str) -> None:
    """Copy EXPERIMENT from another environment into the data folder.

    Reads what the profile's stack holds of it there, with your own AWS
    credentials (and AWS_PROFILE), or from INFRAMOCK_PULL_ENDPOINT when set,
    and never writes there. Profile 2021: experiments-<env>, samples-<env>,
    projects-<env>, and EXPERIMENT's objects in biomage-source-<env>,
    processed-matrix-<env> and cell-sets-<env>. Profile current: the objects
    in biomage-source-<env>-<account>, processed-matrix-<env>-<account> and
    cell-sets-<env>-<account>. Writes only the files that changed into
    BIOMAGE_DATA_PATH/EXPERIMENT/, named as the profile's loader reads them;
    `make reload-data` then loads them.
    """
    # pylint: disable-next=import-outside-toplevel
    from inframock.features import pull as pulling

    settings = Settings.load()
    report = pulling.pull(settings, experiment, environment, account)
    pulling.summary(report, experiment, settings.data_path / experiment)


@cli.command("new-experiment")
@click.argument("source")
@click.option(
    "--id",
    "target",
    default="",
    help="The new experiment's id (default: a new random one).",
)
def new_experiment(source: str, target: str) -> None:
    """Copy experiment SOURCE of the data folder as a new experiment: a new
    experiment id and project uuid throughout its JSON files, so loading it
    adds an experiment instead of replacing SOURCE's items."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.data.new_experiment import new_experiment as copy

    folder, replaced = copy(Settings.load().data_path, source, target)
    ids = ", ".join(f"{old} → {new}" for old, new in replaced.items())
    console.note(f"wrote {folder} ({ids}); `make reload-data` loads it")


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
    from inframock.features.snapshot import command as snapshots

    snapshots.save(_client_settings(), name)


@cli.command()
@click.argument("name")
def restore(name: str) -> None:
    """Replace the running stack's whole state with snapshot NAME.

    Removes every table, bucket, queue, topic and Redis key first (also what
    `make run` provisioned and loaded), then recreates the snapshot's exactly.
    """
    # pylint: disable-next=import-outside-toplevel
    from inframock.features.snapshot import command as snapshots

    snapshots.restore(_client_settings(), name)


@cli.command()
@click.option("--down", is_flag=True, help="Roll back every migration instead.")
def migrate(down: bool) -> None:
    """Run Cellenics' knex migrations (iac + api checkouts), then seed sql/ files."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.features.sql.commands import migrate as run_migrations

    sys.exit(run_migrations(_client_settings(), down))


@cli.command("seed-sql")
def seed_sql() -> None:
    """Insert the data folder's `<experiment>/sql/<table>.json` rows into PostgreSQL."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.services.postgres.seed_sql import load_sql

    sys.exit(load_sql(_client_settings()))


@cli.command("clean-sql")
def clean_sql() -> None:
    """Remove PostgreSQL's data folder (only while the stack is stopped); on the
    Docker road the project's `pg_data` volume (Docker refuses while a
    container of the project uses it)."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.features.sql.commands import clean_sql as remove

    settings = Settings.load()
    road = _road(settings)
    if road.docker:
        compose.become(["docker", "volume", "rm", compose.pg_data_volume(road)])
    sys.exit(remove(settings))


@cli.command("clean-state")
def clean_state() -> None:
    """Forget the state INFRAMOCK_PERSIST saved (AWS engine and Redis), only
    while the stack is stopped: the next start is clean."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.roads.embedded.persisted import clean_state as forget

    sys.exit(forget(Settings.load()))


@cli.group()
def engine() -> None:
    """The AWS engine: moto's server, with inframock's patches."""


@engine.command("patches")
@click.option(
    "--check",
    is_flag=True,
    help="Also check their tripwires against the installed moto (imports it).",
)
def engine_patches(check: bool) -> None:
    """List the engine's changes to moto, in the order it applies them: each
    one's name, what it fixes and the moto release it was checked against.
    Needs no running stack."""
    # pylint: disable=import-outside-toplevel
    from inframock.engine.patches import PATCHES
    from inframock.engine.patching import tripwires

    fitted(
        f"the engine's {len(PATCHES)} patches to moto",
        ["patch", "moto", "fixes"],
        [[patch.name, patch.moto, patch.fixes] for patch in PATCHES],
    )
    if check:
        console.note(tripwires(PATCHES))
