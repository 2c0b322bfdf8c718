"""INFRAMOCK_PERSIST never loses data: faults around a save and a restore.

Real stacks on free ports. The supervisor killed (-9) while its services
save, so that their output has no reader; a state folder on a small tmpfs
that fills up during a save; object files of a saved state deleted or cut
short before a start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil
import pytest
from botocore.exceptions import ClientError

from inframock.engine import persistence
from inframock.testing.harness import RunningStack
from tests.helpers import redis_of

BUCKET = "persisted-bucket"
TABLE = "persisted-table"
REGION = {"LocationConstraint": "eu-west-1"}
MB = 1_000_000


def _same_stack(stack: RunningStack, **overrides: str) -> dict[str, str]:
    """The settings of another start on `stack`'s state (ports, folders)."""
    kept = (
        "INFRAMOCK_AWS_PORT",
        "INFRAMOCK_REDIS_PORT",
        "INFRAMOCK_STATE_DIR",
        "INFRAMOCK_PERSIST",
    )
    return {**{k: stack.env[k] for k in kept}, **overrides}


def _engine(stack: RunningStack) -> psutil.Process:
    return next(
        p for p in stack.processes() if "inframock.engine" in " ".join(p.cmdline())
    )


def _make_table(stack: RunningStack) -> None:
    ddb = stack.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=TABLE, Item={"id": {"S": "kept"}, "v": {"N": "1"}})


def _item(stack: RunningStack) -> dict[str, Any] | None:
    answer = stack.client("dynamodb").get_item(
        TableName=TABLE, Key={"id": {"S": "kept"}}
    )
    return answer.get("Item")


def _body(stack: RunningStack, key: str) -> bytes:
    return bytes(stack.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_save_outlives_a_killed_supervisor(
    make_stack: Callable[..., RunningStack],
) -> None:
    """`kill -9` of `make run`: the engine and Redis save with nobody reading
    their output (the save pauses longer than PROGRESS_EVERY, writing progress
    lines into a pipe without a reader); the next start has everything."""
    pause = persistence.PROGRESS_EVERY * 2 + 1
    first = make_stack(
        INFRAMOCK_PERSIST="true", INFRAMOCK_ENGINE_SAVE_PAUSE=f"{pause:g}"
    ).wait_ready()
    s3 = first.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    body = os.urandom(3 * MB)
    s3.put_object(Bucket=BUCKET, Key="big", Body=body)
    _make_table(first)
    first.redis().set("kept", "in redis")
    engine, redis = _engine(first), redis_of(first.processes())
    first.process.kill()
    first.wait_exit(timeout=30)
    engine.wait(timeout=120)  # the kernel's SIGTERM: it saves, then exits
    redis.wait(timeout=120)
    dump = Path(first.env["INFRAMOCK_STATE_DIR"]) / "redis" / "dump.rdb"
    assert dump.is_file(), "Redis wrote its dump with its output unread"
    second = make_stack(**_same_stack(first)).wait_ready()
    assert _body(second, "big") == body
    assert _item(second) == {"id": {"S": "kept"}, "v": {"N": "1"}}
    assert second.redis().get("kept") == b"in redis"
