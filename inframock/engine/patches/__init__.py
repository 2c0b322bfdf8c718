"""The registry of the engine's changes to moto, in the order they are applied.

Every change inframock makes to moto's code is listed here, and nowhere else
assigns to moto (tests/unit/test_engine_patches.py fails for one that does). Each
patch module (`sns_delivery`, `fifo_dedup`, ...) says why in its docstring
and holds the replacements; this list says what replaces what, in which
order, and the fingerprint of moto's code each one was checked against
(`patching`). `inframock engine patches` prints it.

Three stages, each in a module of its own: `START` (`at_start`: SNS, SQS, S3,
DynamoDB, the log) is applied when the engine starts, `LAUNCHER` (`launcher`:
the pipeline launcher Lambdas) on its first Lambda request, `STEPFUNCTIONS`
(`stepfunctions`) on its first Step Functions request, with `LAUNCHER`
(moto's interpreter costs start-up time and memory that a stack without
pipeline runs never needs, and the `current` profile's provisioning makes
Lambda functions but no state machine). `PATCHES` is all three, in the order
the engine applies them when Step Functions comes first.

Order matters where two patches change one place: the later wraps the
earlier. SQS has one lock (`sqs_concurrency.LOCK`), taken by `sqs-one-lock`
around every change of a queue's messages; `sqs-fifo-dedup` comes before it,
so its check of remembered ids and the add or delete it guards run inside
that lock, as one step.
"""

from __future__ import annotations

from inframock.engine.patches.at_start import START
from inframock.engine.patches.launcher import LAUNCHER
from inframock.engine.patches.stepfunctions import STEPFUNCTIONS
from inframock.engine.patching import Patch, apply_checked

PATCHES = START + STEPFUNCTIONS + LAUNCHER
"""Every patch, in the order the engine applies them."""


def apply_all(stage: tuple[Patch, ...]) -> None:
    """Apply the patches of `stage` (START, LAUNCHER or STEPFUNCTIONS), in order."""
    # pylint: disable-next=import-outside-toplevel
    import moto

    apply_checked(stage, moto.__version__)
