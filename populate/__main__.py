"""`python -m populate seed [--all]`: the Compose `populate` container's command.

A thin entry into inframock's command line, so the container and `make run`
seed with the same code.
"""

from inframock.cli import cli

cli(prog_name="python -m populate")  # pylint: disable=no-value-for-parameter
