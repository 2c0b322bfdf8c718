"""`python -m inframock.engine HOST PORT`: the AWS engine as a child process.

Once `main` has returned (the state saved, the runners stopped), the process
ends without the interpreter's teardown: freeing moto's models object by
object took 0.6 s of every stop of a stack with pipeline runs, and nothing
is left to do by then but flush the output.
"""

import os
import sys

from inframock.engine.server import main

STATUS = 0
try:
    main(sys.argv[1], int(sys.argv[2]))
except SystemExit as exited:  # as the interpreter would end it
    if isinstance(exited.code, int):
        STATUS = exited.code
    elif exited.code is not None:
        print(exited.code, file=sys.stderr)
        STATUS = 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(STATUS)  # pylint: disable=protected-access
