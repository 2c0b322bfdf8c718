"""A FIFO de-duplication id is remembered after its message is deleted.

On a real stack, a duplicate sent after the original was received and deleted
is dropped, while new ids (and, with DeduplicationScope=messageGroup, the same
id in another group) still pass. On a plain moto server the duplicate comes
back: inframock/engine/fifo_dedup.py is still needed.
"""

from __future__ import annotations

from typing import Any

import pytest

from inframock.testing.harness import RunningStack, standalone_moto
from tests.helpers import remote_client


@pytest.fixture(scope="module", name="sqs")
def fixture_sqs(shared_stack: RunningStack) -> Any:
    """An SQS client for the shared stack (the module's queues are its own)."""
    return shared_stack.client("sqs")


def fifo_queue(sqs: Any, name: str, **attributes: str) -> str:
    """A new FIFO queue's URL."""
    return sqs.create_queue(
        QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true", **attributes}
    )["QueueUrl"]


def consume(sqs: Any, url: str) -> list[str]:
    """Receive what is visible now and delete it, as the worker does."""
    bodies = []
    for message in sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", []):
        bodies.append(message["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def send(sqs: Any, url: str, body: str, dedup: str, group: str = "g") -> None:
    """Send `body` with an explicit de-duplication id."""
    sqs.send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageGroupId=group,
        MessageDeduplicationId=dedup,
    )


def test_a_deleted_messages_id_still_drops_its_duplicate(sqs: Any) -> None:
    url = fifo_queue(sqs, "explicit-ids")
    send(sqs, url, "original", "work-1")
    assert consume(sqs, url) == ["original"]
    send(sqs, url, "retry of the original", "work-1")
    send(sqs, url, "new work", "work-2")
    assert consume(sqs, url) == ["new work"]
    assert not consume(sqs, url)


def test_with_group_scope_the_id_counts_within_its_group(sqs: Any) -> None:
    url = fifo_queue(
        sqs,
        "group-scope",
        DeduplicationScope="messageGroup",
        FifoThroughputLimit="perMessageGroupId",
    )
    send(sqs, url, "a in g1", "same", group="g1")
    assert consume(sqs, url) == ["a in g1"]
    send(sqs, url, "again in g1", "same", group="g1")
    send(sqs, url, "a in g2", "same", group="g2")
    assert consume(sqs, url) == ["a in g2"]


def test_moto_itself_still_forgets_the_id_on_delete() -> None:
    """When this fails, moto remembers ids after delete: drop the patch
    (inframock/engine/fifo_dedup.py and its wiring in engine/server.py)."""
    with standalone_moto() as endpoint:
        sqs = remote_client(endpoint, "sqs")
        url = fifo_queue(sqs, "plain-moto")
        send(sqs, url, "original", "work-1")
        assert consume(sqs, url) == ["original"]
        send(sqs, url, "retry of the original", "work-1")
        assert consume(sqs, url) == ["retry of the original"]
