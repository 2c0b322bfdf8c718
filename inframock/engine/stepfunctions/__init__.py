"""Today's Cellenics pipeline runs on the engine: executions, activities, launcher.

moto stores state machines but does not run them the way the pipeline needs.
This package owns the differences: `executions` (the interpreter on, activity
tasks handed to the runner, unnamed executions, paged history, conflicts and
closed tasks as AWS answers them), `intrinsics` (States.Format as AWS reads
it), `maps` (a failing Map aborts its other iterations first), `statelog`
(one log line per state change) and `launcher` (the two launcher Lambdas run
natively: a command or `docker run`, never Lambda-in-Docker); the patch
registry's Step Functions stage (`inframock.engine.patches.stepfunctions`)
says what each replaces.
"""

from __future__ import annotations

import functools

from inframock.engine import patches

SERVICES = ("stepfunctions", "awslambda")
"""moto's services whose first request installs this package: executions are
Step Functions', the launcher is two Lambda functions."""


@functools.cache
def install() -> None:
    """Make state machine executions run as in AWS, with the native launcher.

    Called on the engine's first Step Functions or Lambda request, not at
    start: moto's state machine interpreter imports its Batch and EC2
    services, a second of start-up that a stack without pipeline runs (the
    2021 profile) never needs. Once: each call would wrap moto again.
    """
    # pylint: disable-next=import-outside-toplevel
    from inframock.engine.stepfunctions import deferred_batch

    deferred_batch.defer()  # before the interpreter imports it
    # pylint: disable-next=import-outside-toplevel
    from inframock.engine.stepfunctions import executions

    patches.apply_all(patches.STEPFUNCTIONS)
    executions.restored()  # activities of a state INFRAMOCK_PERSIST restored


def stop() -> None:
    """When the engine stops serving: the runners the launcher started stop."""
    if install.cache_info().currsize:  # installed: a runner may be running
        # pylint: disable-next=import-outside-toplevel
        from inframock.engine.stepfunctions import launcher

        launcher.stop_runners()
