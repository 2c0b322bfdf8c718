"""Load: one stack under half a minute of concurrent Cellenics-like traffic.

The figures (latencies per operation kind, counts) go to `soak.json` in the
test's temporary folder and to one summary line on the terminal;
`scripts/soak.py` regenerates them for docs/survives.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from inframock.testing.harness import RunningStack, base_env
from inframock.testing.soak import QUEUE, SoakPlan, run_soak, summary_line

pytestmark = pytest.mark.soak

REGION = "eu-west-1"
PLAN = SoakPlan()


@pytest.fixture(scope="module", name="soak_stack")
def soak_stack_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningStack]:
    """A stack of its own: the soak drains the queue other tests put messages in."""
    tmp = tmp_path_factory.mktemp("soak")
    (tmp / "data").mkdir()
    stack = RunningStack(base_env(tmp, AWS_DEFAULT_REGION=REGION)).wait_ready()
    yield stack
    stack.stop()


def test_one_stack_holds_concurrent_cellenics_traffic(
    soak_stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = run_soak(soak_stack.endpoint, soak_stack.redis_port, REGION, PLAN)
    report = tmp_path / "soak.json"
    report.write_text(json.dumps(figures, indent=2))
    with capsys.disabled():
        print(f"\n{summary_line(figures)}\n(figures in {report})")
    assert figures["errors"] == []
    messages = figures["messages"]
    assert messages["unique_sent"] == PLAN.senders * PLAN.messages
    assert messages["delivered"] == messages["unique_sent"]
    assert messages["delivered_more_than_once"] == 0
    assert messages["duplicates_sent"] == 100
    assert messages["left_in_queue"] == 0
    assert figures["redis"]["received"] == figures["redis"]["published"] > 0
    assert figures["seconds"] >= PLAN.seconds
    kinds = {
        "sqs.send",
        "sqs.send_batch",
        "sqs.receive",
        "sqs.send_to_receive",
        "sqs.delete_batch",
        "s3.get(50 MB)",
        "dynamodb.put",
        "dynamodb.get",
        "redis.setex",
        "redis.get",
        "redis.publish",
    }
    assert set(figures["operations"]) == kinds
    assert all(o["count"] > 0 for o in figures["operations"].values())
    assert figures["operations"]["s3.get(50 MB)"]["count"] >= 2


def test_a_duplicate_sent_after_its_original_was_consumed_is_dropped(
    soak_stack: RunningStack,
) -> None:
    sqs = soak_stack.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    body = json.dumps({"id": "retried-work-request"})
    received = []
    for _ in range(2):  # the API retrying a request the worker already took
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="retry")
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get(
            "Messages", []
        )
        for message in messages:
            received.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert received == [body]
