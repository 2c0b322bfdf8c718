"""FIFO de-duplication ids outlive their message, as in AWS.

AWS drops a message sent to a FIFO queue with the de-duplication id (explicit
or content-based) of one sent in the last 5 minutes, even when that one was
already received and deleted: the API retrying a work request the worker has
already taken does not run it twice. moto 5.2.5 checks only the messages
still in the queue (`Queue.add_message` in `moto/sqs/models.py`), so the id is
forgotten the moment its message is deleted.

Here `Queue.delete_message` first remembers the id and send time of the
message it deletes, and `Queue.add_message` drops a message whose id was
remembered less than 5 minutes after that send, as moto already does for the
messages it still holds. Both run inside `sqs_concurrency`'s lock (the patch
registry, `patches`, applies `sqs-one-lock` around `sqs-fifo-dedup`):
otherwise a duplicate checked against the deleted ids just before its
original is remembered, and against the queue just after the original left
it, would slip through (and moto's delete, which rebuilds the message list,
could lose a message added meanwhile). With `DeduplicationScope=messageGroup`
the id counts within its message group only. tests/lifecycle/test_soak.py and
tests/stack/test_fifo_dedup.py tell when a new moto no longer needs this.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Callable

from moto.sqs import models

WINDOW_MS = models.DEDUPLICATION_TIME_IN_SECONDS * 1000
"""The de-duplication interval: 5 minutes."""

Key = tuple[str | None, str]
"""(message group when the scope is the group, de-duplication id)."""


def _key(queue: Any, message: Any) -> Key:
    by_group = queue.attributes.get("DeduplicationScope") == "messageGroup"
    return (message.group_id if by_group else None, message.deduplication_id)


class DeletedIds:
    """Per queue, the de-duplication ids of deleted messages and their send times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: weakref.WeakKeyDictionary[Any, dict[Key, int]] = (
            weakref.WeakKeyDictionary()
        )

    def remember(self, queue: Any, message: Any) -> None:
        """Keep the id of `message`, about to be deleted from `queue`."""
        if not (queue.fifo_queue and message.deduplication_id):
            return
        with self._lock:
            ids = self._sent.setdefault(queue, {})
            ids[_key(queue, message)] = int(message.sent_timestamp)

    def is_duplicate(self, queue: Any, message: Any) -> bool:
        """True when `message` repeats a deleted one sent under 5 minutes earlier."""
        if not (queue.fifo_queue and message.deduplication_id):
            return False
        now = int(message.sent_timestamp)
        with self._lock:
            ids = self._sent.get(queue)
            if not ids:
                return False
            for key in [k for k, sent in ids.items() if now - sent >= WINDOW_MS]:
                del ids[key]
            return _key(queue, message) in ids


DELETED = DeletedIds()
"""The ids of every queue's deleted messages."""


def add_unless_duplicate(add_message: Callable[..., None]) -> Callable[..., None]:
    """moto's `Queue.add_message`, dropping a repeat of a deleted message."""

    @functools.wraps(add_message)
    def add(self: Any, message: Any) -> None:
        if not DELETED.is_duplicate(self, message):
            add_message(self, message)

    return add


def delete_remembering(delete_message: Callable[..., None]) -> Callable[..., None]:
    """moto's `Queue.delete_message`, remembering the id of what it deletes."""

    @functools.wraps(delete_message)
    def delete(self: Any, receipt_handle: str) -> None:
        for message in self._messages:  # pylint: disable=protected-access
            if message.had_receipt_handle(receipt_handle):
                DELETED.remember(self, message)
        delete_message(self, receipt_handle)

    return delete
