"""The provisioned stack, checked over the wire as the Cellenics services use it."""

from __future__ import annotations

import json
import time

from inframock.testing.harness import Deliveries, RunningStack, wait_until

REGION = "eu-west-1"
ACCOUNT = "000000000000"
SUBSCRIPTIONS = (
    ("/v1/workResults", "WorkResponse"),
    ("/v1/pipelineResults", "PipelineResponse"),
    ("/v1/gem2sResults", "GEM2SResponse"),
)
"""Each API endpoint the results topic delivers to, and the type it takes."""


def test_tables_have_the_cellenics_keys_and_on_demand_billing(
    session_stack: RunningStack,
) -> None:
    ddb = session_stack.client("dynamodb")
    expected = {
        "experiments-development": [("experimentId", "HASH")],
        "samples-development": [("experimentId", "HASH")],
        "projects-development": [("projectUuid", "HASH")],
        "plots-tables-development": [("experimentId", "HASH"), ("plotUuid", "RANGE")],
    }
    for name, keys in expected.items():
        table = ddb.describe_table(TableName=name)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == keys
        assert {a["AttributeType"] for a in table["AttributeDefinitions"]} == {"S"}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["TableArn"].startswith(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:")


def test_buckets_exist_and_source_and_originals_are_versioned(
    session_stack: RunningStack,
) -> None:
    s3 = session_stack.client("s3")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    plain = ["plots-tables", "cell-sets", "worker-results", "processed-matrix"]
    versioned = ["biomage-source", "biomage-originals"]
    for bucket in plain + versioned:
        assert f"{bucket}-development" in names
    for bucket in versioned:
        status = s3.get_bucket_versioning(Bucket=f"{bucket}-development")
        assert status.get("Status") == "Enabled"
    for bucket in plain:
        status = s3.get_bucket_versioning(Bucket=f"{bucket}-development")
        assert status.get("Status") is None


def test_topic_has_every_filtered_subscription_confirmed(
    session_stack: RunningStack, deliveries: Deliveries
) -> None:
    sns = session_stack.client("sns")
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:work-results-development-default"
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    by_endpoint = {s["Endpoint"]: s for s in subscriptions}
    assert set(by_endpoint) == {deliveries.url + path for path, _ in SUBSCRIPTIONS}
    for endpoint, message_type in SUBSCRIPTIONS:
        sub = by_endpoint[deliveries.url + endpoint]
        assert sub["Protocol"] == "http"
        attributes = sns.get_subscription_attributes(
            SubscriptionArn=sub["SubscriptionArn"]
        )["Attributes"]
        assert json.loads(attributes["FilterPolicy"]) == {"type": [message_type]}
        assert attributes["PendingConfirmation"] == "false"


def test_queue_is_fifo_as_in_iac_and_api_create_succeeds(
    session_stack: RunningStack,
) -> None:
    sqs = session_stack.client("sqs")
    url = sqs.get_queue_url(QueueName="development-queue.fifo")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "true"
    assert attributes["DeduplicationScope"] == "messageGroup"
    assert attributes["FifoThroughputLimit"] == "perMessageGroupId"
    assert attributes["QueueArn"] == (
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:development-queue.fifo"
    )
    # The Cellenics API creates the queue itself on start, with these attributes.
    again = sqs.create_queue(
        QueueName="development-queue.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )
    assert again["QueueUrl"] == url
    # ... and leaves the attributes iac adds as they were.
    after = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert after["Attributes"]["DeduplicationScope"] == "messageGroup"
    assert after["Attributes"]["FifoThroughputLimit"] == "perMessageGroupId"


def test_provisioning_again_creates_and_fails_on_nothing(
    session_stack: RunningStack,
) -> None:
    result = session_stack.cli("seed", POPULATE_MOCK="false")
    assert result.returncode == 0, result.stdout
    assert "provisioned" not in result.stdout
    assert "POPULATE_MOCK is false" in result.stdout
    sns = session_stack.client("sns")
    assert len(sns.list_topics()["Topics"]) == 1
    arn = sns.list_topics()["Topics"][0]["TopicArn"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert len(subscriptions) == len(SUBSCRIPTIONS)


def test_fifo_queue_deduplicates_by_content_and_long_polls(
    session_stack: RunningStack,
) -> None:
    sqs = session_stack.client("sqs")
    url = sqs.get_queue_url(QueueName="development-queue.fifo")["QueueUrl"]
    body = json.dumps({"experimentId": "exp", "body": {"name": "GetEmbedding"}})
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="work")
    sqs.send_message(QueueUrl=url, MessageBody=body + " ", MessageGroupId="work")
    received = []
    deadline = time.monotonic() + 10
    while len(received) < 3 and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10
        ).get("Messages", [])
        for message in messages:
            received.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert received == [body, body + " "]


def test_results_reach_the_api_endpoints_by_type_without_confirmation(
    session_stack: RunningStack, deliveries: Deliveries
) -> None:
    sns = session_stack.client("sns")
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:work-results-development-default"
    deliveries.received.clear()
    for path, message_type in SUBSCRIPTIONS:
        sns.publish(
            TopicArn=arn,
            Message=json.dumps({"default": json.dumps({"result": path})}),
            MessageStructure="json",
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": message_type}
            },
        )
    wait_until(
        lambda: len(deliveries.received) >= len(SUBSCRIPTIONS), 10, "SNS deliveries"
    )
    by_path = {path: (ctype, body) for path, ctype, body in deliveries.received}
    assert set(by_path) == {path for path, _ in SUBSCRIPTIONS}
    for path, _ in SUBSCRIPTIONS:
        content_type, body = by_path[path]
        assert content_type.startswith("text/plain")
        notification = json.loads(body)
        assert notification["Type"] == "Notification"
        assert notification["TopicArn"] == arn
        assert json.loads(notification["Message"]) == {"result": path}
    assert len(deliveries.received) == len(SUBSCRIPTIONS)


def test_source_object_is_readable_like_the_worker_reads_it(
    session_stack: RunningStack,
) -> None:
    s3 = session_stack.client("s3")
    head = s3.head_object(Bucket="biomage-source-development", Key="exp-good-1/r.rds")
    assert head["ContentLength"] == 20 * 1024 * 1024


def test_redis_setex_and_pubsub(session_stack: RunningStack) -> None:
    client = session_stack.redis()
    assert client.execute_command("SETEX", "cache:key", 30, "value")
    assert client.get("cache:key") == b"value"
    assert 0 < client.ttl("cache:key") <= 30
    pubsub = client.pubsub()
    pubsub.subscribe("socket.io#/#")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    assert client.publish("socket.io#/#", "hello") == 1
    message = pubsub.get_message(timeout=5)
    assert message is not None and message["data"] == b"hello"
    pubsub.close()


def test_redis_persists_nothing_and_listens_on_loopback(
    session_stack: RunningStack,
) -> None:
    client = session_stack.redis()
    assert client.config_get("save")["save"] == ""
    assert client.config_get("appendonly")["appendonly"] == "no"
    assert client.config_get("bind")["bind"] == "127.0.0.1"
