"""A shared stack put back as it was: what a test module added, removed again.

A stack start costs seconds of CPU, so the tests that only need names of their
own share one stack per test worker (`tests/conftest.py`). Each takes the
stack's `Baseline` first and calls `restore` when done: every bucket, table,
queue, topic and Redis key it added is deleted through the stack's own APIs
(real calls over the socket), so the next module sees the stack as provisioned,
and assertions that count (one topic, these buckets) still hold there.
Resources the seeder provisioned are never touched.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from inframock.testing.harness import RunningStack


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The names a stack holds at one moment."""

    buckets: frozenset[str]
    tables: frozenset[str]
    queues: frozenset[str]
    topics: frozenset[str]
    redis_keys: frozenset[bytes]


def baseline_of(stack: RunningStack) -> Baseline:
    """The names `stack` holds now."""
    return Baseline(
        buckets=frozenset(_buckets(stack.client("s3"))),
        tables=frozenset(_tables(stack.client("dynamodb"))),
        queues=frozenset(_queues(stack.client("sqs"))),
        topics=frozenset(_topics(stack.client("sns"))),
        redis_keys=frozenset(stack.redis().scan_iter(count=1000)),
    )


def restore(stack: RunningStack, before: Baseline) -> None:
    """Delete from `stack` whatever it holds now that it did not `before`."""
    now = baseline_of(stack)
    s3 = stack.client("s3")
    for bucket in now.buckets - before.buckets:
        _empty_bucket(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
    ddb = stack.client("dynamodb")
    for table in now.tables - before.tables:
        ddb.delete_table(TableName=table)
    sqs = stack.client("sqs")
    for queue in now.queues - before.queues:
        sqs.delete_queue(QueueUrl=queue)
    sns = stack.client("sns")
    for topic in now.topics - before.topics:
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=topic
        ):
            for subscription in page["Subscriptions"]:
                sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        sns.delete_topic(TopicArn=topic)
    added = now.redis_keys - before.redis_keys
    if added:
        stack.redis().delete(*added)


def _buckets(s3: Any) -> list[str]:
    return [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def _tables(ddb: Any) -> list[str]:
    pages = ddb.get_paginator("list_tables").paginate()
    return [name for page in pages for name in page["TableNames"]]


def _queues(sqs: Any) -> list[str]:
    pages = sqs.get_paginator("list_queues").paginate()
    return [url for page in pages for url in page.get("QueueUrls", [])]


def _topics(sns: Any) -> list[str]:
    pages = sns.get_paginator("list_topics").paginate()
    return [topic["TopicArn"] for page in pages for topic in page["Topics"]]


def _empty_bucket(s3: Any, bucket: str) -> None:
    """Every version, delete marker and unfinished upload of `bucket`, gone."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
