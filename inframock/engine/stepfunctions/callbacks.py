"""An activity task's endpoint registered before a worker can take the task.

moto 5.2.5's `CallbackPoolManager.add_activity_task` puts the task in the
activity's queue first and its callback endpoint in the pool after. With
GetActivityTask's long poll (`executions.WaitableActivity`), a waiting worker
wakes at the task and looks for its endpoint in between; it finds none, takes
the task for one whose execution has ended, and drops it: the execution then
waits for an answer nobody will give (seen as a QC run that never ended,
tests/stack/test_pipeline_api_contract.py; the order is checked by
tests/unit/test_engine_patches.py). This replacement (patch
`sfn-shared-activities`) registers the endpoint first, then queues the task.
"""

from __future__ import annotations

# A method of moto's CallbackPoolManager, keeping its pool and store.
# pylint: disable=protected-access

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
