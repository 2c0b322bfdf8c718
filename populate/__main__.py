"""`python -m populate seed [--all]` and `python -m populate relay`: the
commands of the Compose `populate` and `relay` containers.

A thin entry into inframock's command line, so the containers and `make run`
seed and relay with the same code.
"""

from inframock.cli import cli

cli(prog_name="python -m populate")  # pylint: disable=no-value-for-parameter
