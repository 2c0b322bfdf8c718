"""What several test modules share: the session stack's data and ways to look
into a running stack (its items, object versions and processes)."""

from __future__ import annotations

import fcntl
import hashlib
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

from inframock.testing.datafolder import (
    MB,
    experiment_folder,
    payload,
    plot_record,
    write_json,
    write_rds,
)
from inframock.testing.harness import (
    RunningStack,
    base_env,
    free_port,
    port_is_free,
    wait_until,
)

GOOD = "exp-good-1"
PLOTS = 6
PLOT_BYTES = 300_000
RDS_BYTES = 20 * MB
NUMBERS = {
    "tenth": "0.1",
    "tiny": "1E-7",
    "big": "12345678901234567890123456789012345678",
    "negative": "-42.50",
}


def write_session_data(data: Path) -> None:
    """The session stack's data: a full experiment whose plots need two pages."""
    folder = experiment_folder(data, GOOD)
    numbers = ", ".join(f'"{k}": {v}' for k, v in NUMBERS.items())
    (folder / "mock_experiment.json").write_text(
        f'{{"experimentId": "{GOOD}", "experimentName": "good", '
        f'"meta": {{"organism": "mmusculus", {numbers}}}, "cellIds": [1, 2, 3]}}'
    )
    write_json(folder, "mock_samples.json", {"experimentId": GOOD, "samples": {}})
    records = [plot_record(GOOD, f"plot-{i}", PLOT_BYTES) for i in range(PLOTS)]
    write_json(folder, "mock_plots_tables.json", {"records": records})
    write_rds(folder, payload(RDS_BYTES))
    (folder / "notes.txt").write_text("not data")
    (folder / ".DS_Store").write_bytes(b"\0")


SOURCE = "biomage-source-development"


def items(stack: RunningStack, table: str, experiment: str) -> list[dict[str, Any]]:
    """Every item of an experiment, following LastEvaluatedKey page after page."""
    ddb = stack.client("dynamodb")
    deserialize = TypeDeserializer().deserialize
    found = []
    for page in ddb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="experimentId = :id",
        ExpressionAttributeValues={":id": {"S": experiment}},
    ):
        found += [
            {k: deserialize(v) for k, v in item.items()} for item in page["Items"]
        ]
    return found


def rds_versions(stack: RunningStack, experiment: str) -> list[str]:
    """The version ids of an experiment's r.rds (empty when there is none)."""
    listing = stack.client("s3").list_object_versions(
        Bucket=SOURCE, Prefix=f"{experiment}/r.rds"
    )
    return [v["VersionId"] for v in listing.get("Versions", [])]


def load(stack: RunningStack, data: Path, command: str = "reload-data") -> Any:
    """Load `data` into the stack with the CLI; the completed process."""
    return stack.cli(command, BIOMAGE_DATA_PATH=str(data))


FREED_WITHIN = 5.0


def children_of(stack: RunningStack) -> list[psutil.Process]:
    """The service processes the stack started."""
    return psutil.Process(stack.process.pid).children(recursive=True)


def assert_all_gone(stack: RunningStack, services: list[psutil.Process]) -> None:
    """Ports free within FREED_WITHIN seconds and every service process ended."""
    wait_until(
        lambda: port_is_free(stack.aws_port) and port_is_free(stack.redis_port),
        FREED_WITHIN,
        "the ports to be free",
    )
    wait_until(
        lambda: not any(p.is_running() and p.status() != "zombie" for p in services),
        FREED_WITHIN,
        "the services to end",
    )


def engine_of(services: list[psutil.Process]) -> psutil.Process:
    """The AWS engine (`python -m inframock.engine`) among the services."""
    return next(p for p in services if "inframock.engine" in p.cmdline())


def redis_of(services: list[psutil.Process]) -> psutil.Process:
    """The Redis (or Valkey) server among the services."""
    return next(p for p in services if p.name().startswith(("redis", "valkey")))


def publish_to_an_api_that_is_down(sns: Any, host: str) -> int:
    """The HTTP status of a Publish to a topic whose only subscriber is down.

    The topic is deleted afterwards: other tests count subscriptions. Plain
    moto answers 500; inframock's engine 200 (it delivers asynchronously).
    """
    topic = sns.create_topic(Name="api-is-down")["TopicArn"]
    down = f"http://{host}:{free_port()}/v1/workResults"
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=down)
    try:
        response = sns.publish(TopicArn=topic, Message="to an API that is down")
    finally:
        sns.delete_topic(TopicArn=topic)
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


def assert_relayed(  # pylint: disable=too-many-arguments
    sns: Any,
    topic_arn: str,
    received: list[tuple[str, dict[str, str], str]],
    result_type: str,
    path: str,
    message: dict[str, Any],
) -> None:
    """Publish `message` with its `type` attribute to the `current` topic and
    check the relay's delivery into `received`: the API path of the type, the
    exact topic header the API checks, text/plain, the message itself."""
    sns.publish(
        TopicArn=topic_arn,
        Message=json.dumps(message),
        MessageAttributes={"type": {"DataType": "String", "StringValue": result_type}},
    )
    wait_until(lambda: received, 30, "the relay's delivery")
    got_path, headers, body = received[0]
    assert got_path == path
    assert headers["x-amz-sns-topic-arn"] == topic_arn
    assert headers["content-type"] == "text/plain"
    assert json.loads(json.loads(body)["Message"]) == message


def npm_ci(folder: Path, what: str) -> Path:
    """`npm ci` in `folder` (its pinned lockfile), once for every test worker:
    under a lock, and not again while node_modules holds that lockfile's
    install (`npm ci` first deletes node_modules, which another worker's test
    may be using). Skips `what` without node/npm."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip(f"node and npm are needed for {what}: not on PATH")
    lockfile = (folder / "package-lock.json").read_bytes()
    stamp = folder / "node_modules" / ".installed-from"
    wanted = hashlib.sha256(lockfile).hexdigest()
    with open(folder / ".npm-ci.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
            return folder
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        stamp.write_text(wanted, encoding="utf-8")
    return folder


class Receiver(http.server.ThreadingHTTPServer):
    """A stand-in API: records each POST (path, headers, body) and answers 200."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__((host, port), _Handler)
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.url = f"http://{host}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.shutdown()
        self.server_close()

    def paths(self) -> list[str]:
        """The paths POSTed to so far."""
        return [path for path, _, _ in self.received]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # pylint: disable=invalid-name
        """Record the request and answer 200 `ok`, as the API does."""
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.received.append((self.path, headers, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: Any) -> None:  # quiet
        pass


def remote_client(endpoint: str, service: str) -> Any:
    """A client of a second, plain moto server: the "remote" environment pull
    tests fill, and the moto the engine's tripwire tests ask."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="remote",
        aws_secret_access_key="remote",
    )


def pull_env(tmp: Path, remote: str, **overrides: str) -> dict[str, str]:
    """The CLI's environment for `pull`: the remote endpoint, credentials from
    AWS_PROFILE (a reader's), then `overrides`."""
    config = tmp / "aws-config"
    config.write_text(
        "[profile staging-reader]\nregion = eu-west-1\n"
        "aws_access_key_id = reader\naws_secret_access_key = reader\n"
    )
    return base_env(
        tmp,
        INFRAMOCK_PULL_ENDPOINT=remote,
        AWS_PROFILE="staging-reader",
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-credentials"),
        **overrides,
    )


def client_sending_once(endpoint: str, service: str) -> Any:
    """A boto3 client that sends each request once (retries off: a 500 would
    otherwise be sent 3 more times)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
