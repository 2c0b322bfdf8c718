"""The `current` profile: today's Cellenics stack, checked over the wire.

Every resource and attribute of iac's `cf/s3-v2.yaml` and `cf/sns.yaml`, the
data folder under the 2023 loader's names, and the result relay that stands in
for `sns-endpoint-lambda`: its routes, headers and body, Publish never waiting
on it, and retries until a receiver that was down comes up.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any, Iterator

import pytest

from inframock.model import cellenics_current
from inframock.testing.harness import (
    RunningStack,
    base_env,
    free_port,
    port_is_free,
    wait_until,
)
from tests.helpers import Receiver

pytestmark = pytest.mark.slow

ACCOUNT = "000000000000"
TOPIC = "work-results-development-default-v2"
TOPIC_ARN = f"arn:aws:sns:eu-west-1:{ACCOUNT}:{TOPIC}"
EXPERIMENT = "exp-current-1"
RDS = b"R source matrix " * 4096
MATRIX = b"R processed matrix " * 2048
CELL_SETS = {"cellSets": [{"key": "louvain", "children": []}]}
BASES = (
    "plots-tables",
    "cell-sets",
    "spatial-images",
    "spatial-segmentations",
    "spatial-molecules",
    "worker-results",
    "processed-matrix",
    "biomage-pipeline-debug",
    "biomage-source",
    "biomage-filtered-cells",
    "biomage-backups",
    "biomage-originals",
    "cellenics-cell-level-metadata",
)
UNVERSIONED = {"worker-results", "biomage-pipeline-debug"}
UPLOAD_CORS = {"worker-results", "biomage-originals", "cellenics-cell-level-metadata"}
SPATIAL_CORS = {"spatial-images", "spatial-segmentations", "spatial-molecules"}


def bucket(base: str) -> str:
    """A bucket name as iac's s3-v2 makes it."""
    return f"{base}-development-{ACCOUNT}"


@pytest.fixture(scope="module", name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    """The API the relay delivers to."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module", name="current_stack")
def current_stack_fixture(
    tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[RunningStack]:
    """A `current` stack on free ports, with one experiment and quick retries."""
    tmp = tmp_path_factory.mktemp("current")
    folder = tmp / "data" / EXPERIMENT
    folder.mkdir(parents=True)
    (folder / "biomage-source.r.rds.gz").write_bytes(gzip.compress(RDS))
    (folder / "processed-matrix.r.rds.gz").write_bytes(gzip.compress(MATRIX))
    (folder / "mock_cell_sets.json").write_text(json.dumps(CELL_SETS))
    (folder / "mock_experiment.json").write_text('{"experimentId": "x"}')
    env = base_env(
        tmp,
        INFRAMOCK_PROFILE="current",
        BIOMAGE_API_URL=receiver.url,
        INFRAMOCK_RELAY_DELAYS="1,2",
    )
    stack = RunningStack(env).wait_ready()
    yield stack
    stack.stop()


def publish(stack: RunningStack, message: dict[str, Any], kind: str) -> float:
    """Publish as the pipeline does (attribute `type`); seconds Publish took."""
    started = time.monotonic()
    stack.client("sns").publish(
        TopicArn=TOPIC_ARN,
        Message=json.dumps(message),
        MessageAttributes={"type": {"DataType": "String", "StringValue": kind}},
    )
    return time.monotonic() - started


def test_buckets_versioning_cors_and_lifecycle_as_iac(
    current_stack: RunningStack,
) -> None:
    s3 = current_stack.client("s3")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert names == {bucket(base) for base in BASES}
    for base in BASES:
        name = bucket(base)
        status = s3.get_bucket_versioning(Bucket=name).get("Status")
        assert status == (None if base in UNVERSIONED else "Enabled"), name
        rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        assert all(r["Status"] == "Enabled" for r in rules)
        if base in UPLOAD_CORS | SPATIAL_CORS:
            (cors,) = s3.get_bucket_cors(Bucket=name)["CORSRules"]
            assert cors["AllowedOrigins"] == ["*"] and cors["AllowedHeaders"] == ["*"]
        if base in UPLOAD_CORS:
            assert cors["ID"] == "uiHeadersRule"
            assert cors["AllowedMethods"] == ["GET", "PUT", "POST", "DELETE"]
            assert "ETag" in cors["ExposeHeaders"]
        elif base in SPATIAL_CORS:
            assert cors["ID"] == "uiSpatialCorsRule"
            assert cors["AllowedMethods"] == ["GET"]
            assert "ExposeHeaders" not in cors
        else:
            with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORS"):
                s3.get_bucket_cors(Bucket=name)
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket("worker-results"))
    by_id = {r["ID"]: r for r in rules["Rules"]}
    assert by_id["DeleteOldWorkResults"]["Expiration"] == {"Days": 14}
    assert by_id["DeleteDifferentialExpressionResults"]["Filter"] == {
        "Tag": {"Key": "requestType", "Value": "DifferentialExpression"}
    }
    source = s3.get_bucket_lifecycle_configuration(Bucket=bucket("biomage-source"))
    (kept,) = source["Rules"]
    assert kept["NoncurrentVersionExpiration"]["NoncurrentDays"] == 5
    backups = s3.get_bucket_lifecycle_configuration(Bucket=bucket("biomage-backups"))
    ids = [r["ID"] for r in backups["Rules"]]
    assert ids == ["PreserveThenDeleteNonCurrentVersion", "BackupRetentionDays"]


def test_no_tables_and_the_fifo_queue_the_api_recreates(
    current_stack: RunningStack,
) -> None:
    assert current_stack.client("dynamodb").list_tables()["TableNames"] == []
    sqs = current_stack.client("sqs")
    url = sqs.get_queue_url(QueueName="development-queue.fifo")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert {
        k: attributes[k]
        for k in (
            "FifoQueue",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
            "SqsManagedSseEnabled",
        )
    } == {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "true",
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
        "SqsManagedSseEnabled": "true",
    }
    # The API's own call on start (workSubmit): it must find the queue.
    again = sqs.create_queue(
        QueueName="development-queue.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )
    assert again["QueueUrl"] == url


def test_topic_has_only_the_relay_subscription(current_stack: RunningStack) -> None:
    sns = current_stack.client("sns")
    attributes = sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]
    assert attributes["KmsMasterKeyId"] == "alias/aws/sns"
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
    assert sub["Protocol"] == "sqs"
    details = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    assert details["Attributes"].get("RawMessageDelivery", "false") == "false"
    policy = json.loads(details["Attributes"]["DeliveryPolicy"])
    assert policy["healthyRetryPolicy"]["numRetries"] == 56
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert topics == [TOPIC_ARN]


def test_data_folder_goes_to_the_suffixed_buckets(current_stack: RunningStack) -> None:
    s3 = current_stack.client("s3")

    def body(name: str, key: str) -> bytes:
        return bytes(s3.get_object(Bucket=name, Key=key)["Body"].read())

    assert body(bucket("biomage-source"), f"{EXPERIMENT}/r.rds") == RDS
    assert body(bucket("processed-matrix"), f"{EXPERIMENT}/r.rds") == MATRIX
    assert json.loads(body(bucket("cell-sets"), EXPERIMENT)) == CELL_SETS
    assert "mock_experiment.json: ignored" in current_stack.output
    status = json.loads(current_stack.cli("status", "--json").stdout)
    assert status["profile"] == "current" and status["healthy"], status
    objects = status["experiments"][EXPERIMENT]["objects"]
    assert objects[bucket("biomage-source")]["bytes"] == len(RDS)
    # Reloads are incremental: nothing changed, nothing written.
    reload = current_stack.cli("reload-data")
    assert reload.returncode == 0, reload.stdout
    assert "3 unchanged files skipped" in reload.stdout, reload.stdout


@pytest.mark.parametrize(
    "kind, path",
    [
        ("PipelineResponse", "/v2/pipelineResults"),
        ("GEM2SResponse", "/v2/gem2sResults"),
        ("OBJ2SResponse", "/v2/obj2sResults"),
    ],
)
def test_relay_posts_each_result_as_the_lambda_does(
    current_stack: RunningStack, receiver: Receiver, kind: str, path: str
) -> None:
    message = {"experimentId": EXPERIMENT, "apiUrl": receiver.url, "kind": kind}
    publish(current_stack, message, kind)
    wait_until(
        lambda: any(
            p == path and json.loads(b)["Message"] == json.dumps(message)
            for p, _, b in receiver.received
        ),
        20,
        f"a delivery to {path}",
    )
    _, headers, raw = next(
        r
        for r in receiver.received
        if r[0] == path and json.loads(r[2])["Message"] == json.dumps(message)
    )
    record = json.loads(raw)
    assert set(record) == {
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertUrl",
        "UnsubscribeUrl",
        "MessageAttributes",
    }
    assert record["Type"] == "Notification" and record["TopicArn"] == TOPIC_ARN
    assert record["MessageAttributes"]["type"] == {"Type": "String", "Value": kind}
    assert headers["content-type"] == "text/plain"
    assert headers["x-amz-sns-topic-arn"] == TOPIC_ARN
    assert headers["x-amz-sns-message-id"] == record["MessageId"]
    assert headers["x-amz-sns-message-type"] == "Notification"
    subscription = headers["x-amz-sns-subscription-arn"]
    assert subscription.startswith(f"{TOPIC_ARN}:")


def test_backoff_events_go_to_the_api_url_setting(
    current_stack: RunningStack, receiver: Receiver
) -> None:
    event = {"reason": "BackOff", "message": "Back-off restarting failed container"}
    publish(current_stack, event, "PipelineResponse")
    wait_until(
        lambda: "/v2/kubernetesEvents" in receiver.paths(), 20, "the BackOff event"
    )
    _, headers, raw = next(
        r for r in receiver.received if r[0] == "/v2/kubernetesEvents"
    )
    assert json.loads(raw) == event
    assert headers["content-type"] == "application/json"


def test_relay_retries_until_the_api_comes_up_and_publish_never_waits(
    current_stack: RunningStack,
) -> None:
    port = free_port()
    assert port_is_free(port)
    message = {"experimentId": EXPERIMENT, "apiUrl": f"http://127.0.0.1:{port}"}
    took = publish(current_stack, message, "GEM2SResponse")
    assert took < 1.0, f"Publish took {took:.2f} s with the API down"
    wait_until(
        lambda: f"127.0.0.1:{port}/v2/gem2sResults" in current_stack.output
        and "retry 2 of 56" in current_stack.output,
        20,
        "two failed deliveries logged",
    )
    late = Receiver(port)
    try:
        wait_until(lambda: late.paths() == ["/v2/gem2sResults"], 20, "the retry")
        record = json.loads(late.received[0][2])
        assert json.loads(record["Message"]) == message
    finally:
        late.close()


def test_a_message_without_a_route_is_logged_and_dropped(
    current_stack: RunningStack, receiver: Receiver
) -> None:
    before = len(receiver.received)
    publish(current_stack, {"apiUrl": receiver.url}, "WorkResponse")
    wait_until(
        lambda: "no route for message attribute type='WorkResponse'"
        in current_stack.output,
        20,
        "the dropped message logged",
    )
    assert len(receiver.received) == before


def test_status_warns_when_regions_disagree(current_stack: RunningStack) -> None:
    result = current_stack.cli("status", AWS_DEFAULT_REGION="us-east-1")
    assert "worker is pinned to eu-west-1" in result.stdout, result.stdout
    assert f"topic {TOPIC} is in eu-west-1, not in AWS_DEFAULT_REGION" in (
        result.stdout
    )
    assert "queue development-queue.fifo is in eu-west-1" in result.stdout
    fine = current_stack.cli("status")
    # No region warning; the empty schema's (issue 21) is the only one left.
    warned = [line for line in fine.stdout.splitlines() if "warning" in line]
    assert all("aurora_db has no tables" in line for line in warned), fine.stdout


def test_retry_policy_follows_iacs_phases() -> None:
    policy = cellenics_current.DELIVERY_RETRIES
    delays = [policy.delay(n) for n in range(1, 58)]
    assert delays[:3] == [10, 10, 10]  # 2 at the minimum, then the backoff starts
    assert all(
        a is not None and b is not None and a <= b for a, b in zip(delays, delays[1:56])
    )
    assert delays[39] == pytest.approx(60)  # the end of the 38 backoff retries
    assert delays[40:56] == [60] * 16
    assert delays[56] is None


def test_status_names_a_drifted_lifecycle_and_a_reload_puts_it_back(
    current_stack: RunningStack,
) -> None:
    s3 = current_stack.client("s3")
    name = bucket("biomage-pipeline-debug")
    s3.delete_bucket_lifecycle(Bucket=name)
    drifted = current_stack.cli("status")
    assert drifted.returncode == 1
    assert f"not provisioned: lifecycle rules of bucket {name}" in drifted.stdout
    assert current_stack.cli("reload-data").returncode == 0
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert [r["ID"] for r in rules] == ["DeleteObjectAfter10Days"]
    assert current_stack.cli("status").returncode == 0


def test_snapshot_and_restore_keep_the_relay_delivering(
    current_stack: RunningStack, receiver: Receiver
) -> None:
    assert current_stack.cli("snapshot", "current-1").returncode == 0
    restored = current_stack.cli("restore", "current-1")
    assert restored.returncode == 0, restored.stdout
    message = {"experimentId": "after-restore", "apiUrl": receiver.url}
    publish(current_stack, message, "OBJ2SResponse")
    wait_until(
        lambda: any(
            json.loads(json.loads(b)["Message"]).get("experimentId") == "after-restore"
            for p, _, b in receiver.received
            if p == "/v2/obj2sResults"
        ),
        20,
        "a delivery after restore",
    )


def test_a_reload_or_status_for_another_profile_says_so(
    current_stack: RunningStack,
) -> None:
    reload = current_stack.cli("reload-data", INFRAMOCK_PROFILE="2021")
    assert reload.returncode != 0
    assert "the running stack serves profile current" in reload.stdout
    assert current_stack.client("dynamodb").list_tables()["TableNames"] == []
    status = current_stack.cli("status", INFRAMOCK_PROFILE="2021")
    assert "the running stack serves profile current" in status.stdout
