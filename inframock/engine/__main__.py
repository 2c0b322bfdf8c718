"""`python -m inframock.engine HOST PORT`: the AWS engine as a child process."""

import sys

from inframock.engine.server import main

main(sys.argv[1], int(sys.argv[2]))
