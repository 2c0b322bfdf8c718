"""SQS sends and receives that do not slow down as messages pile up.

moto 5.2.5's SQS does work in proportion to the whole queue for every message
it sends or hands out: each send reads the queue's attributes (for
`ContentBasedDeduplication`), and each received message reads them again (for
`MessageRetentionPeriod`); building them counts the visible, in-flight and
delayed messages, asking each message the time, and moto's clock
(`moto.core.utils.unix_time`: `utcnow()` minus the epoch as a timedelta) costs
about 6 µs a call. With 1000 messages waiting a send took 36 ms and a receive
of ten almost 1 s (`make bench`), so a queue that grows while no worker drains
it (the API sending work with the worker stopped) slows everything down and
then takes minutes to drain.

Here SQS reads the clock with `time.time()` (the same seconds and milliseconds
since the epoch, about 80 times faster), and the retention check of a
received message reads the queue's retention period itself instead of all of
its attributes (the engine's patch `sqs-depth`). tests/stack/test_sqs_depth.py
tells when moto no longer needs either.
"""

from __future__ import annotations

import time
from typing import Any


def unix_time_millis() -> float:
    """Milliseconds since the epoch, as moto's own."""
    return time.time() * 1000.0


def retained(self: Any, queue_name: str, message: Any) -> bool:
    """`message` is younger than its queue's retention period (moto's check)."""
    period = int(self.get_queue(queue_name).message_retention_period)
    return period + message.sent_timestamp / 1000 > time.time()
