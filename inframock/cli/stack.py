"""The commands of the stack itself: run, start, stop, logs, status, env.

Each takes the road INFRAMOCK_RUNTIME chooses and calls it (`roads/base.py`);
none asks which road it has.
"""

from __future__ import annotations

import dataclasses
import shlex

import click

from inframock.core import console
from inframock.core.settings import Settings
from inframock.roads import found
from inframock.roads.base import Outcome
from inframock.roads.choice import take_road
from inframock.services.registry import services_for
from inframock.views.status import status_report

verbose_flag = click.option(
    "--verbose",
    "-v",
    is_flag=True,
    envvar="INFRAMOCK_VERBOSE",
    help="Show every line of the services on the terminal too, not only in "
    "the state folder's stack.log (INFRAMOCK_VERBOSE=1).",
)


def _say_stale(settings: Settings) -> None:
    """Before a start: one line on what a killed stack's record left."""
    if stale := found.stale_record(settings):
        console.warn(stale)


@click.command()
@click.option("--detached", is_flag=True, hidden=True)
@verbose_flag
def run(detached: bool, verbose: bool) -> Outcome:
    """Start the stack in the foreground, provision it and load the data folder."""
    settings = Settings.load()
    _say_stale(settings)
    road = take_road(settings, quiet=detached, to_run=True)
    return road.run(settings, detached, verbose)


@click.command()
@verbose_flag
def start(verbose: bool) -> Outcome:
    """Start the stack in the background: the same checks and banner as `run`,
    then return once it is ready (its log is the state folder's stack.log;
    `logs` shows it, `stop` stops the stack). Embedded road only."""
    settings = Settings.load()
    _say_stale(settings)
    return take_road(settings).start(settings, verbose)


@click.command()
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
def logs(follow: bool, lines: int | None) -> Outcome:
    """Print the log of the stack `start` runs in the background (stack.log in
    the state folder; the previous start's is stack.log.1) and return; with
    `--follow`, keep printing until the stack stops. On the Docker road: the
    containers' logs (`docker compose logs`, `-f` to follow)."""
    settings = Settings.load()
    return take_road(settings, quiet=True).logs(settings, follow, lines)


@click.command()
def stop() -> Outcome:
    """Stop the stack that `make start` started, or `make run` in another terminal."""
    settings = Settings.load()
    return take_road(settings).stop(settings)


@click.command()
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
def status(as_json: bool, verbose: bool) -> int:
    """Each service (address, version, pid, uptime, memory), the profile, what
    is wrong, and one line per experiment (`--verbose`: every table).

    Uses the running stack's recorded endpoints. Exits 0 only when every
    service answers and every resource is provisioned.
    """
    settings = Settings.load()
    stale = found.stale_record(settings)
    settings = found.client_settings(settings)
    road = take_road(settings, quiet=as_json)  # JSON mode prints the JSON only
    report = road.status(settings, stale, quiet=as_json)
    if as_json:
        console.json_document(dataclasses.asdict(report))
    else:
        status_report(report, verbose)
    return 0 if report.healthy else 1


@click.command()
def env() -> None:
    """Print `export` lines pointing aws-cli, SDKs and Redis clients at the stack.

    Use as: eval "$(make -s env)". When a stack runs, its own endpoints (and
    a line on stderr if they differ from the settings).
    """
    settings = found.load_client_settings()
    exports = {
        name: value
        for service in services_for(settings)
        for name, value in service.exports(settings).items()
    }
    for name, value in exports.items():
        click.echo(f"export {name}={shlex.quote(value)}")


COMMANDS = [run, start, logs, stop, status, env]
