"""One receive at a time per SQS queue, so no message goes to two receivers.

moto 5.2.5's `SQSBackend.receive_message` picks visible messages and marks
them received without a lock: two ReceiveMessage calls on one queue at the
same moment can both see a message visible and both return it (and both take
messages of one FIFO message group). AWS hands a message to one receiver per
visibility timeout. Seen in the soak test on a loaded machine: one of 2000
messages delivered twice, no error anywhere.

Here each pass of moto's receive runs under a lock of its queue, with no wait
inside; the long poll (WaitTimeSeconds) waits outside the lock, on the same
condition moto's own poll waits on, so other receivers are never held up by a
waiting one. The lock is this module's own, not the queue's message lock:
sends never wait for it, and a receive that moves a message to a dead-letter
queue (a send there) cannot deadlock with `fifo_dedup`'s lock.
tests/test_sqs_receive.py tells when moto takes a lock of its own here.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

from moto.core.utils import unix_time
from moto.sqs import models


class QueueLocks:
    """One lock per moto queue, forgotten with the queue."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakKeyDictionary[Any, threading.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def of(self, queue: Any) -> threading.Lock:
        """The lock of `queue`, made on first use."""
        with self._guard:
            return self._locks.setdefault(queue, threading.Lock())


def install() -> None:
    """Serialise each queue's receives in every moto SQS backend."""
    receive = models.SQSBackend.receive_message
    locks = QueueLocks()

    @functools.wraps(receive)
    def receive_alone(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        queue = self.get_queue(queue_name)
        polling_end = unix_time() + wait_seconds_timeout
        while True:
            with locks.of(queue):
                result = receive(
                    self,
                    queue_name,
                    count,
                    0,
                    visibility_timeout,
                    message_attribute_names,
                )
            left = polling_end - unix_time()
            if result or left <= 0:
                return result
            queue.wait_for_messages(min(1.0, left))

    models.SQSBackend.receive_message = receive_alone  # type: ignore[method-assign]
