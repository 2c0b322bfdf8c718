"""Who may talk to the stack's own endpoints, over real sockets (engine/guard.py).

Loopback is not a boundary: another local account (here `nobody`, through
setpriv) and any web page the developer opens reach 127.0.0.1 too. Neither
may register a file of this machine as an S3 object, read the stack's secret,
reset the stack or read `/moto-api/data.json`; the stack's own loader, curl
and boto3 still can.
"""

from __future__ import annotations

import http.client
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from inframock.core import stack_secret
from inframock.aws.clients import DUMMY_CREDENTIALS
from inframock.aws.object_files import register_file
from inframock.engine.protocol import SECRET_HEADER
from inframock.testing.harness import (
    RunningStack,
    base_env,
    engine_process,
    free_port,
    wait_until,
)

BUCKET = "biomage-source-development"
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
EVIL = "http://evil.example"

CLIENT = """
import http.client, json, sys
port, path, body, headers = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
conn.request("POST", path, body.encode(), json.loads(headers))
answer = conn.getresponse()
print(json.dumps({"status": answer.status, "body": answer.read().decode()}))
"""
"""A small HTTP client for another local account (stdlib only: the system's python)."""


@pytest.fixture(scope="module", name="stack")
def stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack of its own (its buckets are reset by nothing but this module)."""
    tmp = tmp_path_factory.mktemp("trust")
    env = base_env(tmp)
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True)
    stack = RunningStack(env).wait_ready()
    yield stack
    stack.stop()


def state_dir(stack: RunningStack) -> Path:
    """The stack's state folder."""
    return Path(stack.env["INFRAMOCK_STATE_DIR"])


def request(  # pylint: disable=too-many-arguments
    stack: RunningStack,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    host: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request over a real socket, with the Host header given (or the
    stack's own): status, headers (lower-case names) and body."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.aws_port, timeout=30)
    try:
        sent = {"Host": host or f"127.0.0.1:{stack.aws_port}", **(headers or {})}
        conn.request(method, path, body, sent)
        answer = conn.getresponse()
        return (
            answer.status,
            {k.lower(): v for k, v in answer.getheaders()},
            answer.read(),
        )
    finally:
        conn.close()


def registration(path: str, key: str) -> bytes:
    """The body of a registration of `path` as `BUCKET/key`."""
    return json.dumps({"bucket": BUCKET, "key": key, "path": path}).encode()


def with_secret(stack: RunningStack) -> dict[str, str]:
    """The headers of the stack's own loader."""
    secret = stack_secret.read(state_dir(stack))
    assert secret, "the stack made no secret"
    return {
        "Content-Type": "application/json",
        "X-Inframock-Internal": "provision",
        SECRET_HEADER: secret,
    }


def assert_no_object(stack: RunningStack, key: str) -> None:
    """`BUCKET/key` does not exist."""
    with pytest.raises(ClientError) as missing:
        stack.client("s3").head_object(Bucket=BUCKET, Key=key)
    assert missing.value.response["Error"]["Code"] == "404"


def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    """`command` run as another local account (nobody)."""
    return subprocess.run(
        [*NOBODY, *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


def test_another_user_cannot_register_a_file_even_with_the_old_header(
    stack: RunningStack,
) -> None:
    for key, path, headers in [
        ("shadow", "/etc/shadow", {"X-Inframock-Internal": "provision"}),
        ("guessed", "/etc/shadow", {SECRET_HEADER: "guessed"}),
    ]:
        result = as_nobody(
            "/usr/bin/python3",
            "-c",
            CLIENT,
            str(stack.aws_port),
            "/_inframock/objects",
            registration(path, key).decode(),
            json.dumps({"Content-Type": "application/json", **headers}),
        )
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["status"] == 403, answer
        assert "loader only" in json.loads(answer["body"])["error"]
        assert_no_object(stack, key)


def test_another_user_cannot_read_the_secret(stack: RunningStack) -> None:
    path = stack_secret.secret_file(state_dir(stack))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(state_dir(stack).stat().st_mode) == 0o700
    assert as_nobody("/bin/ls", str(state_dir(stack))).returncode != 0
    result = as_nobody("/bin/cat", str(path))
    assert result.returncode != 0 and "Permission denied" in result.stderr
    assert result.stdout == ""


def test_the_secret_registers_files_of_the_object_cache_only(
    stack: RunningStack, tmp_path: Path
) -> None:
    cache = state_dir(stack) / "objects"
    cache.mkdir(exist_ok=True)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not the stack's")
    (cache / "link-out.rds").unlink(missing_ok=True)
    (cache / "link-out.rds").symlink_to(outside)
    inside = cache / "inside.rds"
    inside.write_bytes(b"a cached object")
    headers = with_secret(stack)
    for key, path in [
        ("absolute", "/etc/shadow"),
        ("dotdot", f"{cache}/../../../../../../../../etc/passwd"),
        ("symlink", str(cache / "link-out.rds")),
        ("relative", "etc/passwd"),
    ]:
        status, answered, body = request(
            stack, "POST", "/_inframock/objects", registration(path, key), headers
        )
        assert status == 403, (key, body)
        assert answered["content-type"] == "application/json"
        assert "not inside the folders" in json.loads(body)["error"], body
        assert_no_object(stack, key)
    status, _, body = request(
        stack, "POST", "/_inframock/objects", registration(str(inside), "in"), headers
    )
    assert status == 200, body
    got = stack.client("s3").get_object(Bucket=BUCKET, Key="in")
    assert got["Body"].read() == b"a cached object"


def test_a_foreign_host_is_refused(stack: RunningStack) -> None:
    evil = f"evil.example:{stack.aws_port}"
    body = registration(str(state_dir(stack) / "objects" / "inside.rds"), "rebound")
    status, _, answer = request(
        stack, "POST", "/_inframock/objects", body, with_secret(stack), host=evil
    )
    assert status == 403 and "not this stack's address" in answer.decode()
    assert_no_object(stack, "rebound")
    for path in ("/moto-api/data.json", "/_inframock/health", "/_localstack/health"):
        status, _, answer = request(stack, "GET", path, host=evil)
        assert status == 403, (path, answer)
        assert "not this stack's address" in json.loads(answer)["error"]
    for own in (
        f"127.0.0.1:{stack.aws_port}",
        f"localhost:{stack.aws_port}",
        f"[::1]:{stack.aws_port}",
        "aws:4566",
        f"host.docker.internal:{stack.aws_port}",
    ):
        status, _, answer = request(stack, "GET", "/moto-api/data.json", host=own)
        assert status == 200, (own, answer)


def test_a_cross_origin_reset_is_refused_and_the_buckets_stay(
    stack: RunningStack,
) -> None:
    before = [b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]]
    assert BUCKET in before
    status, headers, body = request(
        stack,
        "POST",
        "/moto-api/reset",
        b"",
        {"Content-Type": "text/plain", "Origin": EVIL},
    )
    assert status == 403, body
    assert not [h for h in headers if h.startswith("access-control-")], headers
    assert "cross-origin" in json.loads(body)["error"]
    after = [b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]]
    assert after == before
    logged = "warning: refused POST '/moto-api/reset' from 127.0.0.1: cross-origin"
    wait_until(lambda: logged in stack.output, 20, "the refusal in the stack's log")


def test_another_origin_cannot_read_the_stacks_data(stack: RunningStack) -> None:
    queue = stack.client("sqs").create_queue(QueueName="trust-secret-messages")
    stack.client("sqs").send_message(
        QueueUrl=queue["QueueUrl"], MessageBody="a private message body"
    )
    for headers in (
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": f"http://localhost:{free_port()}"},
    ):
        status, answered, body = request(
            stack, "GET", "/moto-api/data.json", b"", headers
        )
        assert status == 403, (headers, body)
        assert b"private message" not in body
        assert not [h for h in answered if h.startswith("access-control-")]
    # The dashboard's own requests, and those without Origin, still pass.
    own = f"http://127.0.0.1:{stack.aws_port}"
    for headers in (
        {},
        {"Origin": own, "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ):
        status, answered, body = request(
            stack, "GET", "/moto-api/data.json", b"", headers
        )
        assert status == 200 and b"a private message body" in body, headers
        assert "access-control-allow-origin" not in answered
    # The AWS APIs keep their CORS (the UI's uploads from its own origin).
    status, answered, _ = request(stack, "GET", f"/{BUCKET}", b"", {"Origin": EVIL})
    assert status == 200 and answered["access-control-allow-origin"] == EVIL


def test_a_preflight_from_another_origin_is_refused(stack: RunningStack) -> None:
    for path in ("/moto-api/reset", "/_inframock/objects", "/_localstack/health"):
        status, headers, _ = request(
            stack,
            "OPTIONS",
            path,
            b"",
            {
                "Origin": EVIL,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert status == 403, path
        assert not [h for h in headers if h.startswith("access-control-")], headers


def test_an_engine_given_no_secret_registers_no_file(tmp_path: Path) -> None:
    """The Compose road's engine (no secret, no folders): every registration
    is refused, so its loader uploads instead."""
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "MOTO_ACCOUNT_ID": "000000000000",
        "INFRAMOCK_LOG": "quiet",
    }
    command = [sys.executable, "-m", "inframock.engine", "127.0.0.1", str(port)]
    with engine_process(command, port, env, what="the engine") as endpoint:
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", **DUMMY_CREDENTIALS
        )
        s3.create_bucket(Bucket=BUCKET)
        path = tmp_path / "r.rds"
        path.write_bytes(b"bytes")
        for secret in ("", "any"):
            assert register_file(endpoint, BUCKET, "k", path, secret=secret) is None
        assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
