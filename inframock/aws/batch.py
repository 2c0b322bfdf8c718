"""DynamoDB's BatchWriteItem, retried the way AWS asks: bounded, with backoff.

A batch may come back with UnprocessedItems (throttling in AWS, a busy engine
locally); those are sent again after an exponentially growing pause, a
bounded number of times, and then the batch fails with a reason instead of
spinning forever.
"""

from __future__ import annotations

import time
from typing import Any

from inframock.core.errors import InframockError

BATCH_SIZE = 25
"""DynamoDB's BatchWriteItem limit."""
ATTEMPTS = 8
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 2.0


class UnprocessedItems(InframockError):
    """Items the engine still had not written after every attempt."""


def write_batch(dynamodb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """Write one batch (at most BATCH_SIZE requests) into `table`, entirely.

    Raises botocore's ClientError for a refused batch, UnprocessedItems when
    some items are still unwritten after ATTEMPTS tries.
    """
    pending: dict[str, Any] = {table: requests}
    for attempt in range(ATTEMPTS):
        pending = dynamodb.batch_write_item(RequestItems=pending).get(
            "UnprocessedItems"
        )
        if not pending:
            return
        time.sleep(min(LONGEST_PAUSE, FIRST_PAUSE * 2**attempt))
    left = sum(len(v) for v in pending.values())
    raise UnprocessedItems(
        f"{table}: {left} items still unprocessed after {ATTEMPTS} attempts"
    )
