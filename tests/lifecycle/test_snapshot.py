"""`make snapshot` and `make restore`: a stack's whole state, into a fresh stack.

State of every kind is made on one stack, saved, the stack stopped, a new one
started on other free ports, the snapshot restored into it, and everything
compared: item for item, byte for byte, TTLs within a second.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from boto3.dynamodb.types import TypeSerializer

from inframock.testing.harness import RunningStack, base_env, cli
from inframock.testing.datafolder import MB, payload, plot_record

pytestmark = pytest.mark.slow

FIFO = "development-queue.fifo"
SOURCE = "biomage-source-development"
BIG_OBJECT = 12 * MB
PLOT_ITEMS = 10
"""250 kB each: a scan of the table needs three pages."""


def _generate_tables(stack: RunningStack) -> None:
    ddb = stack.client("dynamodb")
    serialize = TypeSerializer().serialize
    for i in range(PLOT_ITEMS):
        record = plot_record("exp", f"plot-{i:02d}", 250_000)
        ddb.put_item(TableName="plots-tables-development", Item=serialize(record)["M"])
    ddb.put_item(
        TableName="experiments-development",
        Item={
            "experimentId": {"S": "exp"},
            "numbers": {"L": [{"N": "0.1"}, {"N": "-42.50"}, {"N": "1E-7"}]},
            "blob": {"B": b"\x00\xffbinary"},
            "strings": {"SS": ["a", "b"]},
            "integers": {"NS": ["1", "2.5"]},
            "blobs": {"BS": [b"\x01", b"\x02"]},
            "flag": {"BOOL": True},
            "nothing": {"NULL": True},
            "nested": {"M": {"deep": {"M": {"bytes": {"B": b"\x03"}}}}},
        },
    )
    ddb.create_table(
        TableName="extra-table",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "id", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-owner",
                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for at in range(3):
        ddb.put_item(
            TableName="extra-table",
            Item={"id": {"S": "x"}, "at": {"N": str(at)}, "owner": {"S": "me"}},
        )


def _generate_objects(stack: RunningStack) -> None:
    s3 = stack.client("s3")
    for version in range(3):  # three versions of one key, in order
        s3.put_object(Bucket=SOURCE, Key="exp/r.rds", Body=b"version %d" % version)
    s3.put_object(Bucket=SOURCE, Key="exp/gone", Body=b"soon deleted")
    s3.delete_object(Bucket=SOURCE, Key="exp/gone")  # a delete marker on top
    s3.put_object(
        Bucket="cell-sets-development",
        Key="exp",
        Body=b'{"cellSets": []}',
        ContentType="application/json",
        CacheControl="no-cache",
        Metadata={"origin": "snapshot-test"},
    )
    s3.put_object(
        Bucket="worker-results-development",
        Key="big/result",
        Body=payload(BIG_OBJECT, seed=7),
    )


def _generate_messages(stack: RunningStack) -> dict[str, list[dict[str, Any]]]:
    """Messages in the FIFO queue and in an extra standard queue; what was sent."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    fifo = sqs.get_queue_url(QueueName=FIFO)["QueueUrl"]
    dlq = sqs.create_queue(QueueName="extra-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    extra = sqs.create_queue(
        QueueName="extra-queue",
        Attributes={
            "VisibilityTimeout": "45",
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"],
                    "maxReceiveCount": "5",
                }
            ),
        },
        tags={"team": "snapshots"},
    )["QueueUrl"]
    sent: dict[str, list[dict[str, Any]]] = {FIFO: [], "extra-queue": []}
    for group, count in (("a", 3), ("b", 2)):
        for i in range(count):
            message = {"body": f"{group}-{i}", "group": group, "dedup": None}
            options: dict[str, Any] = {}
            if group == "b":
                message["dedup"] = f"dedup-{i}"
                options = {
                    "MessageDeduplicationId": message["dedup"],
                    "MessageAttributes": {
                        "kind": {"DataType": "String", "StringValue": "work"},
                        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
                    },
                }
            sqs.send_message(
                QueueUrl=fifo,
                MessageBody=message["body"],
                MessageGroupId=group,
                **options,
            )
            sent[FIFO].append(message)
    for i in range(15):  # more than one receive's worth
        sqs.send_message(QueueUrl=extra, MessageBody=f"extra-{i}")
        sent["extra-queue"].append({"body": f"extra-{i}", "group": None, "dedup": None})
    topic = sns.create_topic(
        Name="extra-topic",
        Attributes={"DisplayName": "Extra"},
        Tags=[{"Key": "team", "Value": "snapshots"}],
    )["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=dlq_arn["Attributes"]["QueueArn"],
        Attributes={
            "FilterPolicy": json.dumps({"type": ["Audit"]}),
            "RawMessageDelivery": "true",
        },
    )
    return sent


def _generate_redis(stack: RunningStack) -> None:
    db0, db1 = stack.redis(), stack.redis()
    db1.select(1)
    db0.set("plain", "value")
    db0.set("expiring", "soon", ex=300)
    db0.set(b"\x00binary-key", b"\xff\x00")
    db0.hset("hash", mapping={"field": "1", "other": "2"})
    db0.expire("hash", 200)
    db0.rpush("list", "first", "second", "third")
    db0.sadd("set", "x", "y")
    db0.zadd("sorted", {"low": 1.5, "high": 10})
    db1.set("other-db", "1")


def _state(stack: RunningStack) -> dict[str, Any]:
    """Everything a stack holds, in comparable form (messages apart)."""
    return {
        "tables": _tables(stack),
        "buckets": _buckets(stack),
        "queues": _queues(stack),
        "topics": _topics(stack),
        "redis": _redis(stack),
    }


def _tables(stack: RunningStack) -> dict[str, Any]:
    ddb = stack.client("dynamodb")
    tables = {}
    for name in ddb.list_tables()["TableNames"]:
        table = ddb.describe_table(TableName=name)["Table"]
        items = [
            item
            for page in ddb.get_paginator("scan").paginate(TableName=name)
            for item in page["Items"]
        ]
        tables[name] = {
            "keys": table["KeySchema"],
            "attributes": sorted(
                table["AttributeDefinitions"], key=lambda a: a["AttributeName"]
            ),
            "indexes": [
                (i["IndexName"], i["KeySchema"], i["Projection"])
                for i in table.get("GlobalSecondaryIndexes", [])
            ],
            "items": sorted(json.dumps(i, sort_keys=True, default=repr) for i in items),
        }
    return tables


def _buckets(stack: RunningStack) -> dict[str, Any]:
    s3 = stack.client("s3")
    buckets = {}
    for bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        history: dict[str, list[Any]] = {}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):  # newest first, per key
                obj = s3.get_object(
                    Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
                )
                history.setdefault(version["Key"], []).append(
                    (
                        obj["Body"].read(),
                        obj["ContentType"],
                        obj.get("CacheControl"),
                        obj["Metadata"],
                    )
                )
            for marker in page.get("DeleteMarkers", []):
                assert marker["IsLatest"]
                history.setdefault(marker["Key"], []).insert(0, "delete marker")
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        try:
            cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        except s3.exceptions.ClientError:
            cors = []  # NoSuchCORSConfiguration
        buckets[bucket] = {"versioning": versioning, "cors": cors, "history": history}
    return buckets


def _queues(stack: RunningStack) -> dict[str, Any]:
    sqs = stack.client("sqs")
    queues = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        kept = {
            k: v
            for k, v in attributes["Attributes"].items()
            if not k.endswith("Timestamp") and not k.startswith("ApproximateNumber")
        }
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        queues[url.rsplit("/", 1)[1]] = {"attributes": kept, "tags": tags}
    return queues


def _topics(stack: RunningStack) -> dict[str, Any]:
    sns = stack.client("sns")
    topics = {}
    for topic in sns.list_topics()["Topics"]:
        arn = topic["TopicArn"]
        subscriptions = []
        for sub in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
            attributes = sns.get_subscription_attributes(
                SubscriptionArn=sub["SubscriptionArn"]
            )["Attributes"]
            subscriptions.append(
                (
                    sub["Protocol"],
                    sub["Endpoint"],
                    attributes.get("FilterPolicy"),
                    attributes["RawMessageDelivery"],
                    attributes["PendingConfirmation"],
                )
            )
        topics[arn] = {
            "display": sns.get_topic_attributes(TopicArn=arn)["Attributes"].get(
                "DisplayName"
            ),
            "tags": sns.list_tags_for_resource(ResourceArn=arn)["Tags"],
            "subscriptions": sorted(subscriptions),
        }
    return topics


def _redis(stack: RunningStack) -> dict[int, dict[bytes, Any]]:
    result: dict[int, dict[bytes, Any]] = {}
    for db in (0, 1):
        client = stack.redis()
        client.select(db)
        keys = {}
        for key in client.scan_iter():
            kind = client.type(key).decode()
            keys[key] = (kind, _redis_value(client, kind, key), client.pttl(key))
        result[db] = keys
    return result


def _redis_value(client: Any, kind: str, key: bytes) -> Any:
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return client.smembers(key)
    assert kind == "zset", kind
    return client.zrange(key, 0, -1, withscores=True)


def _without_ttls(keys: dict[int, dict[bytes, Any]]) -> dict[int, dict[bytes, Any]]:
    return {db: {k: v[:2] for k, v in entries.items()} for db, entries in keys.items()}


def _receive_all(stack: RunningStack, queue: str) -> list[dict[str, Any]]:
    """Every message of `queue`, consumed (deleted) in the order SQS gives them."""
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    messages = []
    while True:
        received = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return messages
        for message in received:
            messages.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _by_group(messages: list[dict[str, Any]]) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = {}
    for message in messages:
        groups.setdefault(message["group"], []).append(message)
    return groups


def _as_sent(message: dict[str, Any]) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    dedup = attributes.get("MessageDeduplicationId")
    return {
        "body": message["Body"],
        "group": attributes.get("MessageGroupId"),
        "dedup": dedup if dedup and dedup.startswith("dedup-") else None,
    }


def _assert_not_consumed(stack: RunningStack, sent: dict[str, list[Any]]) -> None:
    """Every message is still waiting, none left in flight by the snapshot."""
    sqs = stack.client("sqs")
    for queue, messages in sent.items():
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        waiting = depth["Attributes"]["ApproximateNumberOfMessages"]
        assert waiting == str(len(messages)), queue
        assert depth["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"


def _assert_same_redis(
    actual: dict[int, Any], before: dict[int, Any], after: dict[int, Any], waited: float
) -> None:
    """Same keys, types and values; each TTL the one saved (none stays none):
    at most what was left before the snapshot began (`before`), at least what
    was left once it ended (`after`) less the `waited` seconds since then."""
    assert _without_ttls(actual) == _without_ttls(after)
    for db, keys in after.items():
        for key, (_, _, ttl) in keys.items():
            restored = actual[db][key][2]
            if ttl == -1:
                assert restored == -1, key
            else:
                most, least = before[db][key][2], ttl - waited * 1000
                assert least - 2 <= restored <= most + 2, (key, least, restored, most)


def _assert_healthy(stack: RunningStack) -> None:
    """`status` finds every resource of the stack, as provisioning makes them."""
    result = stack.cli("status")
    assert result.returncode == 0, result.stdout


# pylint: disable-next=too-many-locals  # every part of the state, compared
def test_snapshot_then_restore_into_a_fresh_stack_brings_everything_back(
    make_stack: Any, tmp_path: Path
) -> None:
    snapshots = tmp_path / "snapshots"
    first = make_stack(INFRAMOCK_SNAPSHOT_DIR=str(snapshots)).wait_ready()
    _generate_tables(first)
    _generate_objects(first)
    sent = _generate_messages(first)
    _generate_redis(first)
    expected = _state(first)

    saved = first.cli("snapshot", "before")
    assert saved.returncode == 0, saved.stdout
    ttls_before = expected["redis"]
    expected["redis"], read_at = _redis(first), time.monotonic()
    assert "snapshot: S3 objects: started" in saved.stdout  # progress: 12 MB
    assert [p.name for p in snapshots.iterdir()] == ["before"]
    _assert_not_consumed(first, sent)
    first.stop()

    second = make_stack(INFRAMOCK_SNAPSHOT_DIR=str(snapshots)).wait_ready()
    assert second.aws_port != first.aws_port
    restored = second.cli("restore", "before")
    assert restored.returncode == 0, restored.stdout
    restored_redis = _redis(second)  # first: Redis is restored last
    waited = time.monotonic() - read_at
    actual = {**_state(second), "redis": restored_redis}

    for part in ("tables", "buckets", "queues", "topics"):
        assert actual[part] == expected[part], part
    _assert_healthy(second)  # bucket CORS and table indexes are back too
    _assert_same_redis(actual["redis"], ttls_before, expected["redis"], waited)
    for queue, messages in sent.items():
        received = [_as_sent(m) for m in _receive_all(second, queue)]
        assert _by_group(received) == _by_group(messages), queue


class _RedisThatFailsAfterPing(socketserver.BaseRequestHandler):
    """Answers PING like Redis, and every other command with an error."""

    def handle(self) -> None:
        while data := self.request.recv(4096):
            reply = b"+PONG\r\n" if b"PING" in data.upper() else b"-ERR broken\r\n"
            self.request.sendall(reply)


@pytest.fixture(name="broken_redis")
def broken_redis_fixture() -> Iterator[int]:
    """A port where something passes the Redis probe, then fails every command."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RedisThatFailsAfterPing)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_a_failed_snapshot_leaves_nothing_and_restore_needs_a_snapshot(
    make_stack: Any, tmp_path: Path, broken_redis: int
) -> None:
    snapshots = tmp_path / "snapshots"
    stack = make_stack(INFRAMOCK_SNAPSHOT_DIR=str(snapshots)).wait_ready()
    # Tables, objects, queues and topics are saved before Redis fails. (Another
    # state folder: with the stack's own, its recorded Redis would be used.)
    failed = stack.cli(
        "snapshot",
        "late",
        INFRAMOCK_REDIS_PORT=str(broken_redis),
        INFRAMOCK_STATE_DIR=str(tmp_path / "no record here"),
    )
    assert failed.returncode == 1
    assert "error: broken" in failed.stdout, failed.stdout
    assert not list(snapshots.iterdir())
    missing = stack.cli("restore", "never-saved")
    assert missing.returncode == 1
    assert "no snapshot never-saved" in missing.stdout
    fifo = stack.client("sqs").get_queue_url(QueueName=FIFO)  # nothing was wiped
    assert fifo["QueueUrl"]
    bad = stack.cli("snapshot", "../outside")
    assert bad.returncode == 1 and "not a snapshot name" in bad.stdout
    assert not list(snapshots.iterdir())


def test_a_fifo_group_of_more_than_ten_is_saved_in_part_and_said_so(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = make_stack(INFRAMOCK_SNAPSHOT_DIR=str(tmp_path / "snapshots"))
    sqs = stack.wait_ready().client("sqs")
    url = sqs.get_queue_url(QueueName=FIFO)["QueueUrl"]
    for i in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="one")
    result = stack.cli("snapshot", "partial")
    assert result.returncode == 0, result.stdout
    assert f"queue {FIFO}: saved 10 of 12 waiting messages" in result.stdout
    saved = tmp_path / "snapshots" / "partial" / "queues" / f"{FIFO}.jsonl"
    bodies = [json.loads(line)["body"] for line in saved.read_text().splitlines()]
    assert bodies == [f"m{i}" for i in range(10)]
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "12"


def test_snapshot_without_a_stack_says_how_to_start_one(tmp_path: Path) -> None:
    env = base_env(tmp_path, INFRAMOCK_SNAPSHOT_DIR=str(tmp_path / "snapshots"))
    result = cli(env, "snapshot", "nothing")
    assert result.returncode == 1
    assert "no inframock stack answers" in result.stdout
    assert not any((tmp_path / "snapshots").iterdir())
