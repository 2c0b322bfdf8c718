"""The inframock command line: `python -m populate <command>` (the Makefile's targets).

Parses arguments, resolves settings and dispatches; the work lives in the
modules it calls.
"""

from __future__ import annotations

import os
import shlex
import sys

import click

from populate import compose, console
from populate.settings import Settings, SettingsError


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
    from populate.status import stack_is_reachable

    settings = _settings()
    if not stack_is_reachable(settings):
        console.error(
            f"no inframock stack answers at {settings.aws_endpoint}. "
            "Start one with `make run` (in another terminal), then reload."
        )
        sys.exit(1)
    road = _road(settings)
    if road.docker:
        compose.become(road.command(compose.RELOAD))
    sys.exit(_seed(settings, everything))


@cli.command()
def seed() -> None:
    """Provision and load a stack that is already up (the Compose `populate` step)."""
    sys.exit(_seed(_settings()))


def _seed(settings: Settings, everything: bool = False) -> int:
    # pylint: disable-next=import-outside-toplevel
    from populate import seed as seeding
    from populate.aws import EndpointRefused  # pylint: disable=import-outside-toplevel

    try:
        result = seeding.seed(settings, everything)
    except (EndpointRefused, seeding.SeedError) as err:
        console.error(str(err))
        return 1
    return 0 if result.ok else 1


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
def status() -> None:
    """Each service (up/down, address, version) and what each experiment has loaded."""
    # pylint: disable-next=import-outside-toplevel
    from populate.status import show_status

    settings = _settings()
    road = _road(settings)
    if road.docker:
        compose.show_services(road)
    sys.exit(show_status(settings))


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


if __name__ == "__main__":
    cli(prog_name="python -m populate")  # pylint: disable=no-value-for-parameter
