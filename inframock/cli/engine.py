"""The commands of the AWS engine itself (`inframock engine …`)."""

from __future__ import annotations

import click

from inframock.views.tables import fitted
from inframock.core import console


@click.group()
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
        [[patch.name, patch.release, patch.fixes] for patch in PATCHES],
    )
    if check:
        console.note(tripwires(PATCHES))


COMMANDS = [engine]
