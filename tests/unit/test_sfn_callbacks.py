"""An activity task is never visible to a worker before its endpoint is
registered (inframock/engine/stepfunctions/callbacks.py).

A worker's long poll wakes the moment a task is queued; moto 5.2.5 registers
the task's endpoint only after queueing it, so a poll in between found no
endpoint and dropped the task (an execution that never ended). In a
subprocess, so that the patches applied do not stay in this one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SEEN_AT_QUEUEING = """
import sys
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager
from moto.stepfunctions.parser.backend.activity import Activity
from inframock.engine import patches

if sys.argv[1] == "patched":
    patches.apply_all(patches.START)
    patches.apply_all(patches.STEPFUNCTIONS)

class Watched(Activity):
    '''Records, as a woken worker would look, whether the endpoint is there.'''
    def add_task(self, task):
        print(pool.get(task.task_token) is not None)
        super().add_task(task)

arn = "arn:aws:states:eu-west-1:000000000000:activity:a"
pool = CallbackPoolManager(activity_store={arn: Watched(arn=arn, name="a")})
pool.add_activity_task("token-1", arn, "{}")
print(pool.get("token-1") is not None)
"""


def _seen(mode: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SEEN_AT_QUEUEING, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_queued_activity_task_already_has_its_endpoint() -> None:
    assert _seen("patched") == ["True", "True"]


def test_moto_still_queues_the_task_before_its_endpoint() -> None:
    """When this fails, moto registers first: drop callbacks.py and its change."""
    assert _seen("plain") == ["False", "True"]
