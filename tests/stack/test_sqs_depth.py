"""SQS's clock and retention check (inframock/engine/sqs_depth.py) keep AWS's meaning.

The engine swaps moto's SQS clock for `time.time()` and reads the retention
period directly: timestamps, visibility timeouts, delays, retention and the
approximate counts must come out exactly as before, over the real endpoint.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import pytest
from moto.core import utils
from moto.sqs import models

from inframock.testing.harness import RunningStack


@pytest.fixture(scope="module", name="sqs")
def fixture_sqs(shared_stack: RunningStack) -> Any:
    """An SQS client for the shared stack (the module's queues are its own)."""
    return shared_stack.client("sqs")


def bodies(sqs: Any, url: str, wait: int = 0) -> list[str]:
    """The bodies one ReceiveMessage returns."""
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
    )
    return [m["Body"] for m in got.get("Messages", [])]


def test_timestamps_are_epoch_milliseconds(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="timestamps")["QueueUrl"]
    before = time.time() * 1000
    sqs.send_message(QueueUrl=url, MessageBody="m")
    message = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"][0]
    after = time.time() * 1000
    attributes = message["Attributes"]
    for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
        assert before - 1000 <= int(attributes[name]) <= after + 1000, name


def test_visibility_timeout_hides_then_shows_a_message(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName="visibility", Attributes={"VisibilityTimeout": "2"}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    assert bodies(sqs, url) == ["again"]
    assert bodies(sqs, url) == []  # in flight
    began = time.monotonic()
    assert bodies(sqs, url, wait=10) == ["again"]  # visible again
    assert time.monotonic() - began < 9


def test_a_delayed_message_waits_its_delay(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="delayed")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
    assert bodies(sqs, url) == []
    assert bodies(sqs, url, wait=10) == ["later"]


def test_counts_and_retention_as_before(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName="counts",
        Attributes={"MessageRetentionPeriod": "60", "VisibilityTimeout": "300"},
    )["QueueUrl"]
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="d", DelaySeconds=300)
    assert len(sqs.receive_message(QueueUrl=url).get("Messages", [])) == 1
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert counts["ApproximateNumberOfMessages"] == "2"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"


def test_moto_still_needs_the_cheap_clock_and_retention_check() -> None:
    """When this fails, moto reads the clock cheaply or checks retention
    without all the queue's attributes: drop that half of the patch
    (inframock/engine/sqs_depth.py and its wiring in engine/server.py)."""
    assert "utcnow" in inspect.getsource(utils.unix_time)
    retention = models.SQSBackend.is_message_valid_based_on_retention_period
    assert "get_queue_attributes" in inspect.getsource(retention)
