"""The second engine, MiniStack (INFRAMOCK_ENGINE=ministack), over real sockets.

One stack on MiniStack for the module (profile 2021, a small experiment, its
SNS subscriptions pointed at the session's stand-in API): it is provisioned
and loaded as on moto, its own endpoints refuse other origins as moto's do
(engine/ministack/guard.py), its HTTP subscriptions deliver unconfirmed
(engine/ministack/sns_confirmed.py), no Lambda code runs on it
(engine/ministack/no_lambda_code.py), and what it does not do yet is refused
in one line, and S3's CORS follows each bucket's rules (engine/ministack/s3_cors.py).
The tripwires of inframock's MiniStack patches run in MiniStack's own
virtualenv.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Iterator

import boto3
import botocore.config
import pytest

from inframock.core.checkout import CHECKOUT
from inframock.services.engines.ministack import VENV
from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    write_json,
    write_rds,
)
from inframock.testing.harness import (
    Deliveries,
    RunningStack,
    base_env,
    cli,
    free_port,
    port_is_free,
    wait_until,
)
from tests.helpers import SOURCE, items

pytestmark = pytest.mark.slow

EXPERIMENT = "exp-ministack"
RDS = payload(300_000)
EVIL = "http://evil.example"


@pytest.fixture(scope="module", name="stack")
def stack_fixture(
    tmp_path_factory: pytest.TempPathFactory, deliveries: Deliveries
) -> Iterator[RunningStack]:
    """A stack on MiniStack, whatever engine the rest of the suite runs on."""
    tmp = tmp_path_factory.mktemp("ministack")
    data = tmp / "data"
    folder = experiment_folder(data, EXPERIMENT)
    write_json(folder, "mock_experiment.json", {"experimentId": EXPERIMENT})
    write_json(folder, "mock_samples.json", {"experimentId": EXPERIMENT})
    write_rds(folder, RDS)
    env = base_env(
        tmp,
        INFRAMOCK_ENGINE="ministack",
        BIOMAGE_DATA_PATH=str(data),
        BIOMAGE_API_URL=deliveries.url,
    )
    stack = RunningStack(env).wait_ready(timeout=180)  # its virtualenv, once
    yield stack
    stack.stop()


def _request(
    stack: RunningStack,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", stack.aws_port, timeout=30)
    try:
        conn.request(method, path, body, headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


def _in_ministacks_python(code: str) -> str:
    """What `code` prints, run by MiniStack's virtualenv's Python with this
    checkout importable (it must succeed)."""
    done = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", code],
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_stack_runs_on_ministack_and_loads_the_data_folder(
    stack: RunningStack,
) -> None:
    """The banner and status name MiniStack; the experiment's items and its
    r.rds (gunzipped, byte for byte) are there, and Redis answers."""
    assert "aws (ministack 1.5.33)" in stack.output
    status = stack.cli("status")
    assert status.returncode == 0, status.stdout
    assert "ministack 1.5.33" in status.stdout
    assert [
        item["experimentId"]
        for item in items(stack, "experiments-development", EXPERIMENT)
    ] == [EXPERIMENT]
    body = stack.client("s3").get_object(Bucket=SOURCE, Key=f"{EXPERIMENT}/r.rds")
    assert body["Body"].read() == RDS
    assert stack.redis().ping()


def test_ministacks_own_endpoints_refuse_another_origin(stack: RunningStack) -> None:
    """A page of another origin cannot reset the stack (plain MiniStack answers
    its `text/plain` POST with `{"reset": "ok"}` and CORS for any origin)."""
    status, headers, body = _request(
        stack,
        "POST",
        "/_ministack/reset",
        {"Origin": EVIL, "Content-Type": "text/plain"},
    )
    assert status == 403, body
    assert "cross-origin" in json.loads(body)["error"]
    assert not any(name.lower().startswith("access-control-") for name in headers)
    assert stack.client("s3").head_object(Bucket=SOURCE, Key=f"{EXPERIMENT}/r.rds")
    assert "warning: refused POST '/_ministack/reset'" in stack.output

    status, headers, _ = _request(stack, "GET", "/_ministack/health", {})
    assert status == 200  # curl, boto3 and the readiness probe still pass
    assert "Access-Control-Allow-Origin" not in headers


def _function_zip(marker: Path) -> bytes:
    """A Lambda function whose code, if it ran, would write `marker`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "index.py",
            f"def handler(event, context):\n    open({str(marker)!r}, 'w').close()\n",
        )
    return buffer.getvalue()


def test_no_caller_can_run_lambda_code_on_ministack(
    stack: RunningStack, tmp_path: Path
) -> None:
    """Plain MiniStack runs any function's code as the developer for any page
    (a `text/plain` POST, no signature): here the function is made, but its
    invocation is a function error and its code never runs."""
    marker = tmp_path / "ran"
    body = json.dumps(
        {
            "FunctionName": "page-made",
            "Runtime": "python3.11",
            "Role": "arn:aws:iam::000000000000:role/any",
            "Handler": "index.handler",
            "Code": {"ZipFile": base64.b64encode(_function_zip(marker)).decode()},
        }
    ).encode()
    page = {"Origin": EVIL, "Content-Type": "text/plain"}
    status, _, answer = _request(stack, "POST", "/2015-03-31/functions", page, body)
    assert status == 201, answer
    status, headers, answer = _request(
        stack, "POST", "/2015-03-31/functions/page-made/invocations", page, b"{}"
    )
    assert headers.get("X-Amz-Function-Error") == "Unhandled", (status, answer)
    assert b"inframock runs no Lambda code on MiniStack" in answer
    answered = stack.client("lambda").invoke(FunctionName="page-made", Payload=b"{}")
    assert answered.get("FunctionError") == "Unhandled"
    assert not marker.exists()
    assert "warning: refused to run Lambda function page-made" in stack.output


def test_http_subscriptions_deliver_without_a_confirmation(
    stack: RunningStack, deliveries: Deliveries
) -> None:
    """The Cellenics API never confirms its subscriptions in development: a
    work result still reaches it, and it is sent no SubscriptionConfirmation."""
    sns = stack.client("sns")
    topic = sns.list_topics()["Topics"][0]["TopicArn"]
    marker = f"ministack-{os.getpid()}"
    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"marker": marker}),
        MessageAttributes={
            "type": {"DataType": "String", "StringValue": "WorkResponse"}
        },
    )
    wait_until(
        lambda: any(marker.encode() in body for _, _, body in deliveries.received),
        30,
        "the work result to be delivered",
    )
    confirmations = [
        b for _, _, b in deliveries.received if b"SubscriptionConfirmation" in b
    ]
    assert not confirmations
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic)[
        "Subscriptions"
    ]:
        arn = subscription["SubscriptionArn"]
        attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        assert attributes["PendingConfirmation"] == "false", arn


def test_a_failed_http_delivery_is_retried_by_the_policy(stack: RunningStack) -> None:
    """engine/ministack/sns_delivery.py: plain MiniStack POSTs once; here a
    subscriber that is down gets the retries its policy names, then the
    delivery is dropped with a line, and Publish never waits for it."""
    sns = stack.client("sns")
    url = f"http://127.0.0.1:{free_port()}/v1/down"
    topic = sns.create_topic(Name="ministack-retries")["TopicArn"]
    arn = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=url, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    policy = {"numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}
    sns.set_subscription_attributes(
        SubscriptionArn=arn,
        AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps({"healthyRetryPolicy": policy}),
    )
    sns.publish(TopicArn=topic, Message="never delivered")
    wait_until(
        lambda: f"to {url} failed (ConnectionError), attempt 2: dropped"
        in stack.output,
        30,
        "the delivery to be retried once, then dropped",
    )
    lines = [line for line in stack.lines if f"to {url} failed" in line]
    assert len(lines) == 2 and "attempt 1: retrying in 1 s" in lines[0], lines


def test_a_sigv2_presigned_get_may_name_its_download(stack: RunningStack) -> None:
    """engine/ministack/sigv2_presigned.py: the 2021 API's `downloadData`
    URL (aws-sdk v2 signs S3 with SigV2) with `response-content-disposition`
    downloads, as on S3 (plain MiniStack: 400, "anonymous GET")."""
    sigv2 = boto3.client(
        "s3",
        endpoint_url=stack.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(signature_version="s3"),
    )
    url = sigv2.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": SOURCE,
            "Key": f"{EXPERIMENT}/r.rds",
            "ResponseContentDisposition": 'attachment; filename="r.rds"',
        },
    )
    assert "Signature=" in url and "X-Amz-Signature" not in url
    status, headers, body = _request(
        stack, "GET", url.split(str(stack.aws_port), 1)[1], {}
    )
    assert status == 200, body[:300]
    assert headers["Content-Disposition"] == 'attachment; filename="r.rds"'
    assert body == RDS


def test_persistence_is_refused_on_ministack_in_one_line(tmp_path: Path) -> None:
    """INFRAMOCK_PERSIST on MiniStack: one line saying why, nothing left listening."""
    env = base_env(tmp_path, INFRAMOCK_ENGINE="ministack", INFRAMOCK_PERSIST="true")
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True)
    done = cli(env, "run")
    assert done.returncode != 0
    assert "INFRAMOCK_PERSIST needs INFRAMOCK_ENGINE=moto" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for name in ("INFRAMOCK_AWS_PORT", "INFRAMOCK_REDIS_PORT"):
        assert port_is_free(int(env[name]))


def test_the_ministack_patches_tripwires_hold(stack: RunningStack) -> None:
    """When this fails, a MiniStack release changed code a patch of
    inframock/engine/ministack/patches.py relies on: review the patch."""
    assert stack.process.poll() is None  # its virtualenv is made
    code = (
        "from inframock.engine.patching import broken; "
        "from inframock.engine.ministack.patches import PATCHES; "
        "print('\\n'.join(str(trip) for trip in broken(PATCHES)) or 'hold')"
    )
    assert _in_ministacks_python(code) == "hold"


UI = "http://localhost:5000"
"""The origin of the Cellenics UI in development, which its buckets' rule allows."""


def test_s3_cors_follows_each_buckets_rule(stack: RunningStack) -> None:
    """engine/ministack/s3_cors.py: a preflight for the UI's upload bucket gets
    its rule's methods, one for a bucket without CORS S3's 403, and the UI's
    cross-origin PUT sees the ETag its rule exposes (plain MiniStack: `*` for
    every origin, method and header, whatever the rule)."""
    s3 = stack.client("s3")
    upload = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "biomage-originals-development", "Key": "k"}
    )
    path = upload.split(str(stack.aws_port), 1)[1]
    status, headers, _ = _request(
        stack,
        "OPTIONS",
        path,
        {
            "Origin": UI,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] in {UI, "*"}
    methods = {m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")}
    assert methods == {"GET", "PUT", "POST", "DELETE"}

    put = {"Origin": UI, "Content-Type": "application/octet-stream"}
    status, headers, _ = _request(stack, "PUT", path, put, b"from a page")
    assert status == 200
    exposed = {
        h.strip().lower() for h in headers["Access-Control-Expose-Headers"].split(",")
    }
    assert "etag" in exposed
    assert (
        headers["ETag"]
        == s3.head_object(Bucket="biomage-originals-development", Key="k")["ETag"]
    )

    s3.create_bucket(
        Bucket="no-cors-ministack",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    status, headers, body = _request(
        stack,
        "OPTIONS",
        "/no-cors-ministack/key",
        {"Origin": EVIL, "Access-Control-Request-Method": "PUT"},
    )
    assert status == 403, body
    assert b"CORS is not enabled for this bucket" in body
    assert "Access-Control-Allow-Origin" not in headers


def test_plain_ministack_still_answers_any_preflight_with_a_wildcard(
    stack: RunningStack,
) -> None:
    """When this fails, MiniStack answers a preflight by the bucket's rule
    without AUTH=true: remove engine/ministack/s3_cors.py and its registry
    entry (`ministack-s3-cors`)."""
    assert stack.process.poll() is None  # its virtualenv is made
    code = (
        "from ministack import app; "
        "print(app._handle_options_request('OPTIONS', '/any-bucket/key', "
        "{'origin': 'http://evil.example', 'access-control-request-method': 'PUT'}, "
        "{}, 'request')[1]['Access-Control-Allow-Origin'])"
    )
    assert _in_ministacks_python(code) == "*"
