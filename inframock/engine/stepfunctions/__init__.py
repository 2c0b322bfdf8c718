"""Today's Cellenics pipeline runs on the engine: executions, activities, launcher.

moto stores state machines but does not run them the way the pipeline needs.
This package owns the differences: `executions` (the interpreter on, activity
tasks handed to the runner, unnamed executions, paged history, conflicts and
closed tasks as AWS answers them), `intrinsics` (States.Format as AWS reads
it), `maps` (a failing Map aborts its other iterations first), `statelog`
(one log line per state change) and `launcher` (the two launcher Lambdas run
natively: a command or `docker run`, never Lambda-in-Docker); the patch
registry's Step Functions and launcher stages
(`inframock.engine.patches.stepfunctions`, `inframock.engine.patches.launcher`)
say what each replaces.
"""

from __future__ import annotations

import functools

from inframock.engine import patches


@functools.cache
def install_launcher() -> None:
    """Make the two launcher Lambdas run natively. Once: each call would wrap
    moto again."""
    patches.apply_all(patches.LAUNCHER)


@functools.cache
def install() -> None:
    """Make state machine executions run as in AWS, with the native launcher.

    Called on the engine's first Step Functions request, not at start:
    moto's state machine interpreter imports its Batch and EC2 services,
    start-up time and memory that a stack without pipeline runs never needs.
    Once: each call would wrap moto again.
    """
    # pylint: disable-next=import-outside-toplevel
    from inframock.engine.stepfunctions import deferred_batch

    deferred_batch.defer()  # before the interpreter imports it
    # pylint: disable-next=import-outside-toplevel
    from inframock.engine.stepfunctions import executions

    patches.apply_all(patches.STEPFUNCTIONS)
    install_launcher()  # the interpreter invokes the launcher in process
    executions.restored()  # activities of a state INFRAMOCK_PERSIST restored


FIRST_REQUEST = {"stepfunctions": install, "awslambda": install_launcher}
"""moto's services whose first request installs a part of this package:
executions are Step Functions', the launcher is two Lambda functions (the
`current` profile's provisioning makes them at every start)."""


def install_for(service: str) -> None:
    """What the engine's first request of `service` needs from this package."""
    installing = FIRST_REQUEST.get(service)
    if installing is not None:
        installing()


def stop() -> None:
    """When the engine stops serving: the runners the launcher started stop."""
    if install_launcher.cache_info().currsize:  # a runner may be running
        # pylint: disable-next=import-outside-toplevel
        from inframock.engine.stepfunctions import launcher

        launcher.stop_runners()
