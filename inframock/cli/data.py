"""The commands of the data folder: reload-data, seed, pull, new-experiment."""

from __future__ import annotations

import click

from inframock.core import console
from inframock.core.settings import Settings
from inframock.roads import found
from inframock.roads.base import Outcome
from inframock.roads.choice import take_road

# Each command imports what it runs: boto3 behind most of it is not needed by
# every command.
# pylint: disable=import-outside-toplevel

everything_flag = click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Load every file, also those unchanged since they were last loaded.",
)


@click.command("reload-data")
@everything_flag
def reload_data(everything: bool) -> Outcome:
    """Load what changed in the data folder into the running stack.

    Removes nothing: what the Cellenics services generated stays.
    """
    from inframock.aws.endpoint import check_endpoint_is_local

    settings = found.load_client_settings()
    # Before any request to it, the road's probe included.
    check_endpoint_is_local(settings.aws_endpoint, settings.allow_endpoint)
    return take_road(settings).reload(settings, everything)


@click.command()
@everything_flag
def seed(everything: bool) -> int:
    """Provision and load a stack that is already up (the Compose `populate` step)."""
    from inframock.features.seed.seed import seed_status

    return seed_status(Settings.load(), everything)


@click.command()
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
    from inframock.features import pull as pulling

    settings = Settings.load()
    report = pulling.pull(settings, experiment, environment, account)
    pulling.summary(report, experiment, settings.data_path / experiment)


@click.command("new-experiment")
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
    from inframock.data.new_experiment import new_experiment as copy

    folder, replaced = copy(Settings.load().data_path, source, target)
    ids = ", ".join(f"{old} → {new}" for old, new in replaced.items())
    console.note(f"wrote {folder} ({ids}); `make reload-data` loads it")


COMMANDS = [reload_data, seed, pull, new_experiment]
