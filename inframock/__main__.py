"""`python -m inframock`: the same command line as the `inframock` script."""

from inframock.cli import cli

cli(prog_name="inframock")  # pylint: disable=no-value-for-parameter
