"""A Map whose iteration fails aborts its other iterations first, as in AWS.

In AWS, when one iteration of an inline Map fails, the Map aborts the others
(`MapIterationAborted`) before it fails (`MapStateFailed`) and its Catch moves
on; an aborted iteration's activity task is no longer handed out, and its
token answers TaskTimedOut. moto 5.2.5 raises the failure at once and leaves
the other iterations running: their tasks still go to the next GetActivityTask,
and their events land in the history after `MapStateExited`, where the API's
history walker (getPipelineStatus.js) finds no branch for them and throws, so
a failed QC run cannot be reported. Here, when an inline Map fails, its other
iterations are stopped, their waiting activity tasks withdrawn and woken, and
the Map fails only once they have ended (at most ABORT_WAIT seconds), each
with `MapIterationAborted`. Unlike AWS, a task woken this way also leaves an
`ActivityTimedOut` event, which the API's status neither counts as a
completed step nor as the error (it reads the last `ActivityFailed`).
tests/stack/test_stepfunctions.py (`test_a_failed_map_iteration_...`) checks it.
"""

from __future__ import annotations

# What is fixed here lives in moto's interpreter's internals.
# pylint: disable=protected-access

import datetime
import functools
import threading
import time
import weakref
from typing import Any

from moto.stepfunctions.parser.asl.eval.callback.callback import (
    ActivityCallbackEndpoint,
)

ABORT_WAIT = 10.0
"""Seconds a failing Map waits for its other iterations to end."""

ABORTED: set[str] = set()
"""Tokens of activity tasks withdrawn with their aborted iteration."""
_LOCK = threading.Lock()
_STOPPED: weakref.WeakSet[Any] = weakref.WeakSet()
"""Frames of aborted iterations: an error raised in them after the abort (the
woken task) leaves them stopped, so the iteration ends MapIterationAborted."""


def _stop(frame: Any, now: datetime.datetime) -> None:
    """Stop an iteration's frame and every frame inside it, for good."""
    for inner in list(frame._frames):
        _stop(inner, now)
    _STOPPED.add(frame)
    frame.set_stop(stop_date=now, cause=None, error=None)


def is_aborted(token: str) -> bool:
    """True when `token`'s task was withdrawn with its Map iteration."""
    with _LOCK:
        return token in ABORTED


def withdraw_open_tasks(env: Any) -> None:
    """Withdraw and wake every activity task of the execution still unanswered.

    Only a Map runs states side by side in the pipeline's machines, so these
    are the failing Map's other iterations.
    """
    pool = env.callback_pool_manager._pool
    for token, endpoint in list(pool.items()):
        if not isinstance(endpoint, ActivityCallbackEndpoint):
            continue
        if endpoint.get_outcome() is not None:
            continue
        with _LOCK:
            ABORTED.add(token)
        waiting = endpoint.get_activity_task_start_endpoint()
        if not hasattr(waiting, "_outcome"):
            waiting._outcome = None
        waiting._next_activity_task_start_event.set()
        endpoint.interrupt_all()


def aborting(body: Any) -> Any:
    """`InlineIterationComponent._eval_body`: a failing inline Map stops its
    other iterations and withdraws their tasks before it fails."""

    @functools.wraps(body)
    def evaluated(self: Any, env: Any) -> None:
        before = list(env._frames)
        try:
            body(self, env)
        except Exception:
            siblings = [
                frame
                for frame in list(env._frames)
                if not any(frame is known for known in before)
            ]
            now = datetime.datetime.now(tz=datetime.timezone.utc)
            for frame in siblings:
                _stop(frame, now)
            withdraw_open_tasks(env)
            deadline = time.monotonic() + ABORT_WAIT
            while time.monotonic() < deadline and any(
                frame in env._frames for frame in siblings
            ):
                time.sleep(0.02)
            raise

    return evaluated


def set_error_unless_stopped(set_error: Any) -> Any:
    """`Environment.set_error`, ignored in an iteration the Map stopped."""

    @functools.wraps(set_error)
    def unless_stopped(self: Any, error: Any) -> None:
        if self not in _STOPPED:
            set_error(self, error)

    return unless_stopped
