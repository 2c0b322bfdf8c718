"""moto's SQS queues, changed by one thread at a time.

moto 5.2.5's SQS keeps each queue's messages in a list and its in-flight
messages in a set, and changes both from the server's request threads without
a lock. Two failures follow, both seen in the soak test on a loaded machine:

- Two ReceiveMessage calls on one queue at the same moment can both see a
  message visible and both return it (and both take messages of one FIFO
  message group). AWS hands a message to one receiver per visibility timeout.
- A DeleteMessage that drops a message from the in-flight set while a
  ReceiveMessage walks that set (for the FIFO groups in flight) fails the
  receive with `RuntimeError: Set changed size during iteration`: HTTP 500 to
  the worker.

Here every change of a queue's messages (add, receive, delete, visibility,
purge) runs under one reentrant lock: reentrant because a receive moves
messages to a dead-letter queue (an add) and an add can feed a Lambda event
source (a receive and deletes). One lock for all queues, rather than one per
queue, so that those nested changes of two queues cannot deadlock. Each step
is short: the long poll (WaitTimeSeconds) waits outside the lock, on the
condition moto's own poll waits on, so a waiting receiver holds up nobody.
tests/stack/test_sqs_concurrency.py tells when moto takes a lock of its own here.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, Callable

LOCK = threading.RLock()
"""Held while any moto SQS queue's messages change."""


def locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` of moto's SQS, run under LOCK."""

    @functools.wraps(method)
    def under_lock(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return method(*args, **kwargs)

    return under_lock


def receive_alone(receive: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """moto's `SQSBackend.receive_message`, each try under LOCK and the long
    poll's waits outside it."""

    @functools.wraps(receive)
    def alone(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        queue = self.get_queue(queue_name)
        polling_end = time.monotonic() + wait_seconds_timeout
        while True:
            with LOCK:
                result = receive(
                    self,
                    queue_name,
                    count,
                    0,
                    visibility_timeout,
                    message_attribute_names,
                )
            left = polling_end - time.monotonic()
            if result or left <= 0:
                return result
            queue.wait_for_messages(min(1.0, left))

    return alone
