"""Today's Cellenics pipeline runs on the engine: executions, activities, launcher.

moto stores state machines but does not run them the way the pipeline needs.
This package owns the differences: `executions` (the interpreter on, activity
tasks handed to the runner, unnamed executions, paged history, conflicts and
closed tasks as AWS answers them), `intrinsics` (States.Format as AWS reads
it), `maps` (a failing Map aborts its other iterations first), `statelog`
(one log line per state change) and `launcher` (the two launcher Lambdas run
natively: a command or `docker run`, never Lambda-in-Docker).
"""

from __future__ import annotations

from inframock.engine.stepfunctions import (
    executions,
    intrinsics,
    launcher,
    maps,
    statelog,
)


def install() -> None:
    """Make state machine executions run as in AWS, with the native launcher."""
    executions.install()
    intrinsics.install()
    maps.install()
    statelog.install()
    launcher.install()


def restored() -> None:
    """After INFRAMOCK_PERSIST's restore: the restored activities take tasks."""
    executions.restored()
