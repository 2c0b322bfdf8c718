"""Step Functions executions that run, with activities, as the pipeline needs.

moto 5.2.5 carries an interpreter of the Amazon States Language (ported from
LocalStack, `moto/stepfunctions/parser/`), off unless `/moto-api/config` turns
it on. Even on, three things stop today's Cellenics pipeline from running:

- it has no `GetActivityTask` (moto's responses lack the operation), so the
  pipeline runner can never take an activity task;
- every execution gets an empty activity store of its own
  (`StepFunctionsParserBackend.start_execution` passes `activity_store={}`),
  so an activity Task state fails at once ("The activity activity_arn does not
  exist") even for an activity CreateActivity made;
- an execution started without a name (the API never names one) is named
  `None`: its ARN ends in `:None`, and the next one started with the same input
  is taken for the same execution (StartExecution's idempotency) and not run.

And GetExecutionHistory answers every event in one page, never with the
`nextToken` the API pages with; SendTaskFailure drops the `cause`;
StopExecution leaves an execution waiting for a worker RUNNING;
CreateStateMachine of an existing name with a new definition returns the old
machine (AWS: StateMachineAlreadyExists, on which the API updates it); a task
already answered still takes answers (AWS: TaskTimedOut). This module's
replacements (the `sfn-*` patches in `inframock.engine.patches.stepfunctions`)
turn the interpreter on, gives executions one activity store shared
with CreateActivity/DeleteActivity, answers GetActivityTask with AWS's long
poll, names unnamed executions with a UUID as AWS does, pages the history,
keeps a failure's cause and aborts a stopped execution at once.
tests/stack/test_stepfunctions.py (`test_moto_still_...`) tells when a new moto no
longer needs a part.
"""

from __future__ import annotations

# These are methods of moto's StepFunctionResponse, reading its request.
# pylint: disable=protected-access

import base64
import functools
import os
import threading
import time
import uuid
from typing import Any

from moto.core.exceptions import AWSError
from moto.stepfunctions import responses
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.api import (
    ExecutionAbortedEventDetails,
    ExecutionStatus,
    HistoryEventType,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    ActivityCallbackEndpoint,
)
from moto.stepfunctions.parser.backend.activity import Activity, ActivityTask

from inframock.engine.stepfunctions import maps


class StateMachineAlreadyExists(AWSError):
    """CreateStateMachine of an existing name with another definition."""

    TYPE = "StateMachineAlreadyExists"


class TaskTimedOut(AWSError):
    """A task token whose task is no longer open (moto's own class of this
    name carries no error code, so its answer names none)."""

    TYPE = "TaskTimedOut"


POLL_SECONDS = 60.0
"""How long GetActivityTask waits for a task: AWS's 60 s long poll."""

HISTORY_PAGE = 100
"""Events per GetExecutionHistory page when maxResults is not given (AWS: 100)."""


class WaitableActivity(Activity):
    """An activity's queue of tasks that a poll can wait on."""

    def __init__(self, arn: str, name: str) -> None:
        super().__init__(arn=arn, name=name)
        self._ready = threading.Condition()

    def add_task(self, task: ActivityTask) -> None:
        with self._ready:
            super().add_task(task)
            self._ready.notify()

    def take(self, timeout: float) -> ActivityTask | None:
        """The oldest task, waiting up to `timeout` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while True:
                try:
                    return super().get_task()
                except IndexError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._ready.wait(left)


class ActivityStore(dict):  # type: ignore[type-arg]
    """Every activity CreateActivity made, by ARN, shared by all executions."""

    def activity(self, arn: str, name: str) -> WaitableActivity:
        """The activity `arn`, made on first use."""
        return self.setdefault(arn, WaitableActivity(arn, name))


STORE = ActivityStore()


def restored() -> int:
    """Share the activities a restored state holds (INFRAMOCK_PERSIST); how many.

    The store lives beside moto's backends, not in them, so a restore brings
    back CreateActivity's activities but not their queues: without this, a
    new execution of a restored state machine fails at its activity Task
    ("The activity ... does not exist") until a worker polls.
    """
    found = 0
    for regions in parser_models.stepfunctions_parser_backends.values():
        for backend in regions.values():
            for activity in backend.activities.values():
                STORE.activity(activity.arn, activity.name)
                found += 1
    return found


def poll_seconds() -> float:
    """GetActivityTask's long poll (INFRAMOCK_ACTIVITY_POLL_SECONDS, default 60)."""
    try:
        return float(os.environ.get("INFRAMOCK_ACTIVITY_POLL_SECONDS") or POLL_SECONDS)
    except ValueError:
        return POLL_SECONDS


def _running_executions() -> list[Any]:
    """Every execution the interpreter runs, in every account and region."""
    found = []
    for regions in parser_models.stepfunctions_parser_backends.values():
        for backend in regions.values():
            for machine in backend.state_machines:
                found += [
                    e
                    for e in machine.executions
                    if e.exec_worker is not None and e.status == "RUNNING"
                ]
    return found


def _mark_started(token: str, worker: str | None) -> bool:
    """Tell the execution waiting on `token` that a worker took its task."""
    if maps.is_aborted(token):
        return False
    for execution in _running_executions():
        env = execution.exec_worker.env
        endpoint = env.callback_pool_manager.get(token) if env else None
        if isinstance(endpoint, ActivityCallbackEndpoint):
            endpoint.notify_activity_task_start(worker_name=worker)
            return True
    return False


def get_activity_task(self: Any) -> Any:
    """GetActivityTask: a task's token and input, or an empty token after the poll.

    A task whose execution has ended meanwhile (stopped, timed out) is skipped,
    as AWS never hands those out.
    """
    arn = self._get_param("activityArn")
    worker = self._get_param("workerName")
    activity = self.stepfunction_backend.describe_activity(arn)  # may not exist
    queue = STORE.activity(arn, activity.name)
    deadline = time.monotonic() + poll_seconds()
    while True:
        task = queue.take(max(0.0, deadline - time.monotonic()))
        if task is None:
            return responses.ActionResult({"taskToken": "", "input": ""})
        if _mark_started(task.task_token, worker):
            return responses.ActionResult(
                {"taskToken": task.task_token, "input": task.task_input}
            )


def get_execution_history(self: Any) -> Any:
    """GetExecutionHistory in pages of maxResults (default 100) with nextToken."""
    arn = self._get_param("executionArn")
    size = int(self._get_param("maxResults") or HISTORY_PAGE) or HISTORY_PAGE
    token = self._get_param("nextToken")
    events = list(self.stepfunction_backend.get_execution_history(arn)["events"])
    if self._get_param("reverseOrder"):
        events.reverse()
    start = int(base64.b64decode(token).decode()) if token else 0
    page: dict[str, Any] = {"events": events[start : start + size]}
    if start + size < len(events):
        page["nextToken"] = base64.b64encode(str(start + size).encode()).decode()
    return responses.ActionResult(page)


class SharedStoreExecution(parser_models.Execution):
    """An execution of the interpreter that sees every activity, and stops at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["activity_store"] = STORE
        super().__init__(*args, **kwargs)

    _aborted = False

    @property
    def exec_status(self) -> Any:
        """The status; once stopped, ABORTED whatever the interpreter ends with."""
        return self._exec_status

    @exec_status.setter
    def exec_status(self, value: Any) -> None:
        if not self._aborted:
            self._exec_status = value

    def stop(self, stop_date: Any, error: Any, cause: Any) -> None:
        """StopExecution: ABORTED at once, as in AWS.

        moto's stop only marks the program stopped: a state waiting for a
        worker to take or finish an activity task (up to TimeoutSeconds, 6
        hours in the pipeline) keeps the execution RUNNING until then. The
        interpreter runs no further state once stopped; its waiting thread
        ends with its timeout.
        """
        super().stop(stop_date, error, cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
            self._aborted = True
            env = self.exec_worker.env if self.exec_worker else None
            if env is not None:
                env.event_manager.add_event(
                    context=env.event_history_context,
                    event_type=HistoryEventType.ExecutionAborted,
                    event_details=EventDetails(
                        executionAbortedEventDetails=ExecutionAbortedEventDetails()
                    ),
                )


def _all_executions() -> list[Any]:
    """Every execution of the interpreter, ended ones included."""
    return [
        execution
        for regions in parser_models.stepfunctions_parser_backends.values()
        for backend in regions.values()
        for machine in backend.state_machines
        for execution in machine.executions
        if execution.exec_worker is not None
    ]


def task_is_closed(token: str) -> bool:
    """True when `token` names a task that was answered, withdrawn, or whose
    execution ended."""
    if maps.is_aborted(token):
        return True
    for execution in _all_executions():
        env = execution.exec_worker.env
        endpoint = env.callback_pool_manager.get(token) if env else None
        if endpoint is not None:
            return (
                endpoint.get_outcome() is not None
                or endpoint.consumer_error is not None  # timed out
                or execution.status != "RUNNING"
            )
    return False


def refuse_closed(method: Any) -> Any:
    """`method` (SendTaskSuccess/Failure/Heartbeat) answering TaskTimedOut, as AWS
    does, for a task already answered or of an ended execution (moto: 200)."""

    @functools.wraps(method)
    def checked(self: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
        if task_is_closed(task_token):
            raise TaskTimedOut(f"Task Timed Out: '{task_token}'")
        return method(self, task_token, *args, **kwargs)

    return checked


def _open_endpoint(token: str) -> Any:
    """The callback endpoint of `token` in a running execution, if any."""
    for execution in _running_executions():
        env = execution.exec_worker.env
        endpoint = env.callback_pool_manager.get(token) if env else None
        if endpoint is not None:
            return endpoint
    return None


def beat_from_the_start(heartbeat: Any) -> Any:
    """SendTaskHeartbeat accepted as soon as GetActivityTask handed the task out.

    The interpreter's thread sets up the task's heartbeat a moment after the
    task is taken; a heartbeat in that window got InvalidToken (the R runner
    then stops beating for good). It counts for nothing yet: the heartbeat
    timer starts when that setup is done.
    """

    @functools.wraps(heartbeat)
    def checked(self: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
        endpoint = _open_endpoint(task_token)
        if (
            isinstance(endpoint, ActivityCallbackEndpoint)
            and endpoint._heartbeat_endpoint is None
            and endpoint.get_outcome() is None
        ):
            return None
        return heartbeat(self, task_token, *args, **kwargs)

    return checked


def create_or_conflict(create: Any) -> Any:
    """CreateStateMachine answering StateMachineAlreadyExists, as AWS does, when
    the name exists with another definition or role (moto returns the old one,
    so the API never updates it and re-runs the old definition)."""

    @functools.wraps(create)
    def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked = dict(zip(("name", "definition", "roleArn"), args), **kwargs)
        existing = next(
            (m for m in self.state_machines if m.name == asked.get("name")), None
        )
        if existing is not None and (
            existing.definition != asked.get("definition")
            or existing.roleArn != asked.get("roleArn")
        ):
            raise StateMachineAlreadyExists(
                f"State Machine Already Exists: '{existing.arn}'"
            )
        return create(self, *args, **kwargs)

    return checked


def interpreter_on(config: dict[str, Any]) -> dict[str, Any]:
    """moto's user config, the same dict, with the interpreter on (what
    `/moto-api/config` sets; moto reads it in `responses.get_backend`)."""
    config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    return config


def start_named(start: Any) -> Any:
    """StartExecution naming an unnamed execution with a UUID, as AWS does."""

    @functools.wraps(start)
    def named(self: Any, state_machine_arn: str, *args: Any, **kw: Any) -> Any:
        if args:
            args = (args[0] or str(uuid.uuid4()),) + args[1:]
        else:
            kw["name"] = kw.get("name") or str(uuid.uuid4())
        return start(self, state_machine_arn, *args, **kw)

    return named


def create_shared(create: Any) -> Any:
    """CreateActivity, idempotent as in AWS (moto: ActivityAlreadyExists),
    its activity in the store every execution shares."""

    @functools.wraps(create)
    def shared(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = kwargs.get("name", args[0] if args else None)
        existing = next((a for a in self.activities.values() if a.name == name), None)
        activity = existing or create(self, *args, **kwargs)
        STORE.activity(activity.arn, activity.name)
        return activity

    return shared


def delete_shared(delete: Any) -> Any:
    """DeleteActivity, its activity gone from the shared store too."""

    @functools.wraps(delete)
    def shared(self: Any, activity_arn: str) -> None:
        delete(self, activity_arn)
        STORE.pop(activity_arn, None)

    return shared


def send_task_failure(self: Any) -> Any:
    """SendTaskFailure with its `cause` kept (moto's response drops it), which
    the history's ActivityFailed event and the API's error report carry."""
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"),
        error=self._get_param("error"),
        cause=self._get_param("cause"),
    )
    return responses.EmptyResult()
