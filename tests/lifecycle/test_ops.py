"""Day-to-day operation: the `aws` log names each operation, and the health
endpoints answer for tools and wait scripts (issue 15, items 1 and 3)."""

from __future__ import annotations

import json
import re
import stat
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core.request import Request
from moto.core.responses import BaseResponse
from moto.sns.responses import SNSResponse

from inframock.services.redis import find_redis_server
from inframock.engine.calls import DISPATCHED, Call, describe, noted
from inframock.engine.oplog import RED, RESET, error_detail, format_line
from inframock.testing.datafolder import experiment_folder, write_json
from inframock.testing.harness import RunningStack, wait_until
from tests.helpers import children_of, redis_of

pytestmark = pytest.mark.slow

QUEUE = "development-queue.fifo"
CELL_SETS = "cell-sets-development"
EXPERIMENTS = "experiments-development"
LOGGED_WITHIN = 10.0
"""Seconds a line may take to reach the stack's output (summaries: ~1 s)."""


def aws_lines(stack: RunningStack) -> list[str]:
    """The `aws` service's lines, without their prefix."""
    return [
        line.split("| ", 1)[1] for line in stack.lines if re.match(r"aws\s+\| ", line)
    ]


def wait_for_line(stack: RunningStack, pattern: str) -> str:
    """The first `aws` line matching `pattern` in full, once it is there."""
    regex = re.compile(pattern)
    wait_until(
        lambda: any(regex.fullmatch(line) for line in aws_lines(stack)),
        LOGGED_WITHIN,
        f"an aws line matching {pattern!r}; got:\n{stack.output}",
    )
    return next(line for line in aws_lines(stack) if regex.fullmatch(line))


def exercise(stack: RunningStack) -> None:
    """A SendMessage, a PutObject, a GetItem and a GetItem that fails."""
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="g")
    stack.client("s3").put_object(Bucket=CELL_SETS, Key="exp-1/cell sets", Body=b"{}")
    ddb = stack.client("dynamodb")
    ddb.get_item(TableName=EXPERIMENTS, Key={"experimentId": {"S": "exp-1"}})
    with pytest.raises(ClientError):
        ddb.get_item(TableName="no-such-table", Key={"experimentId": {"S": "x"}})


def test_log_names_service_operation_resource_status(make_stack: Any) -> None:
    stack = make_stack().wait_ready()
    exercise(stack)
    took = r" \(\d+ ms\)"
    wait_for_line(stack, rf"sqs SendMessage {re.escape(QUEUE)} → 200{took}")
    wait_for_line(stack, rf"s3 PutObject {CELL_SETS}/exp-1/cell sets → 200{took}")
    wait_for_line(stack, rf"dynamodb GetItem {EXPERIMENTS} → 200{took}")
    wait_for_line(
        stack,
        r"dynamodb GetItem no-such-table → 400 ResourceNotFoundException: "
        rf"Requested resource not found{took}",
    )
    # The stack's own calls and the readiness probe: one summary line each.
    provision = wait_for_line(
        stack, r"inframock provision: \d+ requests \(dynamodb \d+, s3 \d+.*\) → .*"
    )
    assert int(provision.split()[2]) > 20, provision
    # A health check read to its end: one the readiness probe closed early may
    # go uncounted, so the test does not depend on those.
    with urllib.request.urlopen(f"{stack.endpoint}/moto-api/", timeout=10) as page:
        assert page.status == 200 and page.read()
    wait_for_line(stack, r"health checks: \d+ requests? \(/moto-api/ \d+\) → 200")
    assert not any("HTTP/1.1" in line for line in aws_lines(stack)), stack.output
    assert "CreateTable" not in stack.output  # provisioning is not listed
    assert "\x1b[" not in stack.output  # no colour codes into a pipe


@pytest.mark.parametrize("mode", ["http", "quiet"])
def test_log_modes(make_stack: Any, mode: str) -> None:
    stack = make_stack(INFRAMOCK_LOG=mode).wait_ready()
    exercise(stack)
    if mode == "http":
        wait_for_line(stack, r'.*"POST / HTTP/1\.1" 400 -')
    stack.stop()  # everything it printed is in its output now
    lines = aws_lines(stack)
    assert not any("→" in line for line in lines), stack.output
    if mode == "quiet":
        assert not any("HTTP/1.1" in line for line in lines), stack.output


def test_errors_in_colour_with_code_and_message() -> None:
    call = Call("sqs", "GetQueueUrl", "nope")
    xml = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>AWS.SimpleQueueService."
        b"NonExistentQueue</Code><Message>The specified queue does not exist."
        b"</Message></Error></ErrorResponse>"
    )
    detail = error_detail(xml, {})
    assert detail == (
        "AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."
    )
    line = format_line(call, 400, 2.4, detail)
    assert line == f"{RED}sqs GetQueueUrl nope → 400 {detail} (2 ms){RESET}"
    assert format_line(call, 200, 3.0) == "sqs GetQueueUrl nope → 200 (3 ms)"
    as_json = b'{"__type": "com.amazonaws.dynamodb.v20120810#X", "message": "m"}'
    assert error_detail(as_json, {}) == "X: m"


def held_redis(folder: Path) -> Path:
    """A Redis server command whose process outlives the server it runs.

    The stack stops itself when its Redis process exits; through this wrapper,
    the test can kill the real server and still find the stack running, its
    Redis down, for as long as it needs, without racing the supervisor.
    """
    real, _ = find_redis_server("")
    script = folder / "held-redis"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version) exec "{real}" "$@";; esac\n'
        f'"{real}" "$@"\n'
        "exec tail -f /dev/null\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    """The status and JSON document of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_health_endpoints_up_and_with_redis_killed(
    make_stack: Any, tmp_path: Path
) -> None:
    data = tmp_path / "health data"
    write_json(
        experiment_folder(data, "exp-health"),
        "mock_experiment.json",
        {"experimentId": "exp-health"},
    )
    stack = make_stack(data, INFRAMOCK_REDIS_SERVER=str(held_redis(tmp_path)))
    stack.wait_ready()
    server = redis_of(children_of(stack))
    try:
        status, ours = get_json(f"{stack.endpoint}/_inframock/health")
        assert status == 200, ours
        assert ours["healthy"] is True
        assert ours["services"]["aws"]["state"] == "up"
        assert ours["services"]["redis"] == {
            "state": "up",
            "address": f"redis://127.0.0.1:{stack.redis_port}",
        }
        assert ours["experiments"]["ids"] == ["exp-health"]
        status, theirs = get_json(f"{stack.endpoint}/_localstack/health")
        assert status == 200
        assert theirs["edition"] == "community" and theirs["version"]
        for service in ("s3", "sqs", "sns", "dynamodb", "redis"):
            assert theirs["services"][service] == "running", theirs
        assert stack.cli("status").returncode == 0

        server.kill()
        server.wait(timeout=10)
        status, ours = get_json(f"{stack.endpoint}/_inframock/health")
        assert status == 503, ours
        assert ours["healthy"] is False
        assert ours["services"]["redis"]["state"] == "down"
        assert ours["services"]["aws"]["state"] == "up"
        assert ours["experiments"]["ids"] == ["exp-health"]
        status, theirs = get_json(f"{stack.endpoint}/_localstack/health")
        assert status == 200
        assert theirs["services"]["redis"] == "error"
        assert theirs["services"]["s3"] == "running"
        assert stack.cli("status").returncode != 0
        assert stack.process.poll() is None  # the wrapper kept the stack up
    finally:
        if server.is_running():
            server.kill()


@pytest.mark.parametrize(
    "method, path, query, headers, expected",
    [
        ("GET", "/", "", {}, ("ListBuckets", "")),
        ("PUT", "/b", "", {}, ("CreateBucket", "b")),
        ("HEAD", "/b", "", {}, ("HeadBucket", "b")),
        ("GET", "/b", "list-type=2&prefix=e", {}, ("ListObjectsV2", "b")),
        ("GET", "/b", "versions", {}, ("ListObjectVersions", "b")),
        ("PUT", "/b", "cors", {}, ("PutBucketCors", "b")),
        ("GET", "/b", "versioning", {}, ("GetBucketVersioning", "b")),
        ("POST", "/b", "delete", {}, ("DeleteObjects", "b")),
        ("PUT", "/b/e1/r.rds", "", {}, ("PutObject", "b/e1/r.rds")),
        ("GET", "/b/a%20b", "", {}, ("GetObject", "b/a b")),
        ("DELETE", "/b/k", "", {}, ("DeleteObject", "b/k")),
        ("PUT", "/b/k", "", {"HTTP_X_AMZ_COPY_SOURCE": "b/j"}, ("CopyObject", "b/k")),
        ("POST", "/b/k", "uploads", {}, ("CreateMultipartUpload", "b/k")),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {}, ("UploadPart", "b/k")),
        ("POST", "/b/k", "uploadId=u", {}, ("CompleteMultipartUpload", "b/k")),
        ("GET", "/k", "", {"HTTP_HOST": "b.s3.localhost"}, ("GetObject", "b/k")),
        ("OPTIONS", "/b/k", "", {}, ("Preflight", "b/k")),
    ],
)
def test_s3_operations_from_method_and_path(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    expected: tuple[str, str],
) -> None:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
    call = describe({**environ, **headers})
    assert (call.service, call.operation, call.resource) == ("s3", *expected)


def test_query_protocol_names_action_and_topic() -> None:
    """The operation and topic are what moto's dispatch read of the request:
    the response `noted` (the patch `oplog-dispatch`) keeps on its environ."""
    arn = "arn:aws:sns:eu-west-1:000000000000:work-results-development-default"
    request = Request.from_values(
        method="POST",
        path="/",
        content_type="application/x-www-form-urlencoded; charset=utf-8",
        data=f"Action=Publish&TopicArn={arn}&Message=m",
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/"
            "eu-west-1/sns/aws4_request, SignedHeaders=host, Signature=0"
        },
    )
    noted(BaseResponse.setup_class)(SNSResponse(), request)
    assert isinstance(request.environ[DISPATCHED], SNSResponse)
    assert str(describe(request.environ)) == (
        "sns Publish work-results-development-default"
    )
