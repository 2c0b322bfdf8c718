"""An activity task's callback, safe against a worker that is quick.

Two orders of moto's that lose a task to a quick worker are fixed here.

Endpoint before task. moto 5.2.5's `CallbackPoolManager.add_activity_task`
puts the task in the activity's queue first and its callback endpoint in the
pool after. With GetActivityTask's long poll (`executions.WaitableActivity`),
a waiting worker wakes at the task and looks for its endpoint in between; it
finds none, takes the task for one whose execution has ended, and drops it:
the execution then waits for an answer nobody will give (seen as a QC run
that never ended, tests/stack/test_pipeline_api_contract.py; the order is
checked by tests/unit/test_engine_patches.py). This replacement (patch
`sfn-shared-activities`) registers the endpoint first, then queues the task.

Answer before heartbeat setup. The interpreter sets up a task's heartbeat a
moment after a worker took it, then waits for a heartbeat and only after one
reads the answer. An answer given in that moment (the R runner beats and
answers a quick step within milliseconds) wakes nothing: the execution waited
out `HeartbeatSeconds` (6 minutes in the pipeline) and then failed an answered
task with a heartbeat timeout (seen as a QC run that never ended in a loaded
test run). `woken_if_answered` (patch `sfn-early-answer`) wakes the new
heartbeat at once when the task was already answered or withdrawn.
"""

from __future__ import annotations

# Methods of moto's callback classes, keeping their pool, store and events.
# pylint: disable=protected-access

import functools
from typing import Any

from moto.stepfunctions.parser.api import ActivityDoesNotExist
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    ActivityCallbackEndpoint,
)
from moto.stepfunctions.parser.backend.activity import ActivityTask


def add_activity_task(
    self: Any, callback_id: str, activity_arn: str, activity_input: str
) -> ActivityCallbackEndpoint:
    """moto's, in the order that cannot lose a task: endpoint, then task."""
    if callback_id in self._pool:
        raise ValueError("Duplicate callback token id value.")
    activity = self._activity_store.get(activity_arn)
    if activity is None:
        raise ActivityDoesNotExist(f"Activity Does Not Exist: {activity_arn}")
    endpoint = ActivityCallbackEndpoint(
        callback_id=callback_id, activity_input=activity_input
    )
    self._pool[callback_id] = endpoint
    activity.add_task(ActivityTask(task_token=callback_id, task_input=activity_input))
    return endpoint


def woken_if_answered(setup: Any) -> Any:
    """`CallbackEndpoint.setup_heartbeat_endpoint`, its heartbeat woken at once
    when the answer (or a withdrawal) came first.

    Either side stores before it looks: an answer sets the event, then looks
    for a heartbeat to wake; the setup stores the heartbeat, then looks at the
    event. So one of them always sees the other.
    """

    @functools.wraps(setup)
    def woken(self: Any, heartbeat_seconds: int) -> Any:
        heartbeat = setup(self, heartbeat_seconds)
        if self._notify_event.is_set():
            heartbeat.notify()
        return heartbeat

    return woken
