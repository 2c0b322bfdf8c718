"""moto's SQS queues changed one thread at a time (inframock/engine/sqs_concurrency.py).

Real stack, real sockets: receivers and deleters in threads against one queue,
as several Cellenics workers poll one work queue.
"""

from __future__ import annotations

import collections
import inspect
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.sqs import models

from inframock.testing.harness import RunningStack

REGION = "eu-west-1"
MESSAGES = 600
RECEIVERS = 6
IN_FLIGHT = 200
VISIBLE = 100


@pytest.fixture(scope="module", name="sqs")
def fixture_sqs(shared_stack: RunningStack) -> Any:
    """An SQS client for the shared stack (the module's queues are its own)."""
    return shared_stack.client("sqs")


def test_concurrent_receivers_never_get_the_same_message(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName="many-receivers", Attributes={"VisibilityTimeout": "300"}
    )["QueueUrl"]
    for start in range(0, MESSAGES, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "MessageBody": str(n)} for n in range(start, start + 10)
            ],
        )
    received: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def receiver() -> None:
        while True:
            with lock:
                if sum(received.values()) >= MESSAGES:
                    return
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                return  # nothing visible for a whole second: all handed out
            with lock:
                received.update(m["Body"] for m in messages)

    threads = [threading.Thread(target=receiver) for _ in range(RECEIVERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    twice = {body: n for body, n in received.items() if n > 1}
    assert not twice, f"{len(twice)} messages went to more than one receiver"
    assert len(received) == MESSAGES


def test_a_long_poll_waits_and_wakes_on_a_send(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    began = time.monotonic()
    empty = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert "Messages" not in empty
    assert time.monotonic() - began >= 0.9  # it waited, as SQS does
    got: list[dict[str, Any]] = []
    poll = threading.Thread(
        target=lambda: got.extend(
            sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])
        )
    )
    began = time.monotonic()
    poll.start()
    sqs.send_message(QueueUrl=url, MessageBody="work")
    poll.join(timeout=30)
    assert [m["Body"] for m in got] == ["work"]
    assert time.monotonic() - began < 15  # woken by the send, not the timeout


def test_deletes_beside_receives_never_fail_a_receive(sqs: Any) -> None:
    """A receive walks the queue's in-flight messages while deletes drop some
    (moto's `Set changed size during iteration`: HTTP 500 to a worker)."""
    once = boto3.client(
        "sqs",
        endpoint_url=sqs.meta.endpoint_url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),  # a 500 shows
    )
    url = once.create_queue(
        QueueName="receive-and-delete", Attributes={"VisibilityTimeout": "300"}
    )["QueueUrl"]
    for _ in range(0, IN_FLIGHT + VISIBLE, 10):
        once.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": "m"} for n in range(10)],
        )
    handles: list[str] = []
    while len(handles) < IN_FLIGHT:  # a large in-flight set for receives to walk
        handles += [
            m["ReceiptHandle"]
            for m in once.receive_message(QueueUrl=url, MaxNumberOfMessages=10)[
                "Messages"
            ]
        ]
    errors: list[str] = []
    received: list[int] = []

    def deleter(mine: list[str]) -> None:
        for handle in mine:
            try:
                once.delete_message(QueueUrl=url, ReceiptHandle=handle)
            except Exception as error:  # pylint: disable=broad-except
                errors.append(f"delete: {error}")

    def receiver() -> None:
        while sum(received) < VISIBLE and not errors:
            try:
                got = once.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            except Exception as error:  # pylint: disable=broad-except
                errors.append(f"receive: {error}")
                return
            received.append(len(got.get("Messages", [])))

    threads = [
        threading.Thread(target=deleter, args=(handles[n::RECEIVERS],))
        for n in range(RECEIVERS)
    ] + [threading.Thread(target=receiver) for _ in range(RECEIVERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[:3]
    assert sum(received) == VISIBLE


def test_moto_still_changes_queues_without_a_lock() -> None:
    """When this fails, moto serialises receives itself: drop the patch
    (inframock/engine/sqs_concurrency.py and its wiring in engine/server.py)."""
    source = inspect.getsource(inspect.unwrap(models.SQSBackend.receive_message))
    assert "lock" not in source
