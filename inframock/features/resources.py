"""What the stack's resources hold and lack, read from the AWS endpoint.

For `make status` (and the Docker road's banner): which resources of the
profile's stack are missing or differ, items and objects per experiment,
bucket totals, the work queue's depth and the results topic's subscriptions.
Every listing follows its pagination to the end, so the counts are exact
however big the stack is.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from inframock.aws.clients import Clients
from inframock.aws.listings import bucket_names, subscriptions, table_names
from inframock.aws import resources
from inframock.aws.listings import function_names
from inframock.aws.resources import bucket_cors, bucket_lifecycle_ids
from inframock.features.seed.provision import queue_attributes_differing
from inframock.model.stack import Bucket, Stack, Table

QUEUE_DEPTH = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
"""Waiting, in flight (received, not yet deleted), and delayed messages."""


@dataclasses.dataclass
class Usage:
    """Objects and their bytes (current versions) in a bucket or under a prefix."""

    objects: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        """Count one more object of `size` bytes."""
        self.objects += 1
        self.bytes += size


@dataclasses.dataclass
class ExperimentStatus:
    """What one experiment has: items per table, objects per bucket."""

    items: dict[str, int]
    objects: dict[str, Usage]
    """Per bucket: objects whose key is `<id>` or starts with `<id>/`."""


@dataclasses.dataclass
class BucketStatus:
    """A whole bucket: its versioning and every current object in it."""

    versioning: str
    usage: Usage


@dataclasses.dataclass
class QueueStatus:
    """The depth of the work queue."""

    name: str
    visible: int
    in_flight: int
    delayed: int


@dataclasses.dataclass
class SubscriptionStatus:
    """One subscription of the results topic."""

    protocol: str
    endpoint: str
    filter_policy: str | None
    confirmed: bool


@dataclasses.dataclass
class TopicStatus:
    """The results topic and who it delivers to."""

    name: str
    arn: str
    subscriptions: list[SubscriptionStatus]


def missing_resources(stack: Stack, clients: Clients) -> list[str]:
    """The resources of `stack` that do not exist on the endpoint, or differ from it.

    Indexes, bucket CORS rules, subscriptions and queue attributes count too: a
    client that needs one fails as surely as without the table, bucket or queue.
    """
    tables, buckets = set(table_names(clients)), set(bucket_names(clients))
    missing = []
    for table in stack.tables:
        if table.name in tables:
            missing += _missing_indexes(clients, table)
        else:
            missing.append(f"table {table.name}")
    for bucket in stack.buckets:
        if bucket.name not in buckets:
            missing.append(f"bucket {bucket.name}")
        else:
            missing += _bucket_differences(clients, bucket)
    try:
        clients.sns.get_topic_attributes(TopicArn=stack.topic_arn)
        missing += _missing_subscriptions(stack, clients)
        missing += _missing_relay(stack, clients)
    except clients.sns.exceptions.NotFoundException:
        missing.append(f"topic {stack.topic.name}")
    if stack.functions:
        present = function_names(clients)
        missing += [
            f"function {f.name}" for f in stack.functions if f.name not in present
        ]
    try:
        differing = queue_attributes_differing(clients, stack)
        missing += [
            f"queue {stack.queue.name} attribute {k}={v}" for k, v in differing.items()
        ]
    except clients.sqs.exceptions.QueueDoesNotExist:
        missing.append(f"queue {stack.queue.name}")
    return missing


def _bucket_differences(clients: Clients, bucket: Bucket) -> list[str]:
    """The CORS rules, lifecycle rules and versioning a bucket lacks."""
    missing = []
    if bucket_cors(clients, bucket.name) != bucket.cors_rules:
        missing += [f"cors {r.rule_id} of bucket {bucket.name}" for r in bucket.cors]
    if bucket.lifecycle and bucket_lifecycle_ids(clients, bucket.name) != [
        r.rule_id for r in bucket.lifecycle
    ]:
        missing.append(f"lifecycle rules of bucket {bucket.name}")
    if bucket.versioned:
        versioning = clients.s3.get_bucket_versioning(Bucket=bucket.name)
        if versioning.get("Status") != "Enabled":
            missing.append(f"versioning of bucket {bucket.name}")
    return missing


def _missing_relay(stack: Stack, clients: Clients) -> list[str]:
    """The relay's queue and its subscription to the topic, if the stack has one."""
    relay = stack.topic.relay
    if relay is None:
        return []
    try:
        url = clients.sqs.get_queue_url(QueueName=relay.queue)["QueueUrl"]
    except clients.sqs.exceptions.QueueDoesNotExist:
        return [f"queue {relay.queue}"]
    queue_arn = resources.queue_arn(clients, url)
    subscribed = any(
        sub.protocol == "sqs"
        and sub.endpoint == queue_arn
        and sub.attributes.get("RawMessageDelivery", "false") == "false"
        for sub in subscriptions(clients, stack.topic_arn)
    )
    return [] if subscribed else [f"subscription {queue_arn} (relay)"]


def _missing_indexes(clients: Clients, table: Table) -> list[str]:
    if not table.indexes:
        return []
    description = clients.dynamodb.describe_table(TableName=table.name)["Table"]
    present = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in description.get("GlobalSecondaryIndexes", [])
    }
    return [
        f"index {table.name}/{index.name}"
        for index in table.indexes
        if present.get(index.name) != (index.key_schema, index.projection)
    ]


def _missing_subscriptions(stack: Stack, clients: Clients) -> list[str]:
    policies = {
        sub.endpoint: sub.attributes.get("FilterPolicy")
        for sub in subscriptions(clients, stack.topic_arn)
        if sub.protocol == "http"
    }
    return [
        f"subscription {sub.endpoint} ({sub.message_type})"
        for sub in stack.topic.subscriptions
        if policies.get(sub.endpoint) != sub.filter_policy
    ]


def contents(
    stack: Stack, clients: Clients
) -> tuple[dict[str, ExperimentStatus], dict[str, BucketStatus]]:
    """Items per table and objects per bucket, per experiment; bucket totals.

    One paginated scan per table and one paginated listing per bucket, however
    many experiments there are.
    """
    items: dict[str, collections.Counter[str]] = {}
    for table in stack.tables:
        if table.hash_key == "experimentId":
            items[table.name] = _items_per_experiment(clients, table.name)
        else:
            items[table.name] = _projects_per_experiment(clients, stack, table.name)
    buckets, prefixes = {}, {}
    for bucket in stack.buckets:
        try:
            usage, prefixes[bucket.name] = _bucket_usage(clients, bucket.name)
        except clients.s3.exceptions.NoSuchBucket:
            continue  # reported as missing
        versioning = clients.s3.get_bucket_versioning(Bucket=bucket.name)
        buckets[bucket.name] = BucketStatus(versioning.get("Status", "off"), usage)
    # An experiment: a table item of it, or an object the data folder loads.
    loaded = [set(prefixes.get(name, {})) for name in stack.data.buckets]
    ids = sorted(set().union(*items.values(), *loaded))
    experiments = {
        i: ExperimentStatus(
            {t: c[i] for t, c in items.items()},
            {b: by_prefix.get(i, Usage()) for b, by_prefix in prefixes.items()},
        )
        for i in ids
    }
    return experiments, buckets


def _items_per_experiment(clients: Clients, table: str) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    try:
        pages = clients.dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="experimentId"
        )
        for page in pages:
            counts.update(
                item["experimentId"]["S"]
                for item in page["Items"]
                if "S" in item.get("experimentId", {})
            )
    except clients.dynamodb.exceptions.ResourceNotFoundException:
        pass  # reported as missing
    return counts


def _projects_per_experiment(
    clients: Clients, stack: Stack, table: str
) -> collections.Counter[str]:
    """How many items of the projects table each experiment belongs to.

    Projects are keyed by `projectUuid`, not by experiment: a project counts for
    every experiment it lists in `experiments`, and for every experiment whose
    item names it in `projectId` or whose samples name it in `projectUuid`.
    """
    links: dict[str, set[str]] = collections.defaultdict(set)
    try:
        projects = {}
        for item in _scan(clients, table, "projectUuid, experiments"):
            listed = item.get("experiments", {})
            members = listed.get("SS", []) + [
                e["S"] for e in listed.get("L", []) if "S" in e
            ]
            projects[item["projectUuid"]["S"]] = members
    except clients.dynamodb.exceptions.ResourceNotFoundException:
        return collections.Counter()  # reported as missing
    for project, members in projects.items():
        for experiment in members:
            links[experiment].add(project)
    for kind, attribute in (("experiments", "projectId"), ("samples", "projectUuid")):
        named_in = stack.table(kind)
        if named_in is None:
            continue
        try:
            named = _scan(clients, named_in.name, f"experimentId, {attribute}")
            for item in named:
                project = item.get(attribute, {}).get("S")
                if project in projects and "S" in item.get("experimentId", {}):
                    links[item["experimentId"]["S"]].add(project)
        except clients.dynamodb.exceptions.ResourceNotFoundException:
            continue  # reported as missing
    return collections.Counter({e: len(p) for e, p in links.items()})


def _scan(clients: Clients, table: str, projection: str) -> list[dict[str, Any]]:
    """Every item of `table`, page after page, with only the attributes named."""
    pages = clients.dynamodb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression=projection
    )
    return [item for page in pages for item in page["Items"]]


def _bucket_usage(clients: Clients, bucket: str) -> tuple[Usage, dict[str, Usage]]:
    """Every current object of `bucket`, in total and per first key segment."""
    total, by_prefix = Usage(), collections.defaultdict(Usage)
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            total.add(entry["Size"])
            by_prefix[entry["Key"].split("/", 1)[0]].add(entry["Size"])
    return total, dict(by_prefix)


def queue_depth(stack: Stack, clients: Clients) -> QueueStatus | None:
    """The work queue's waiting, in-flight and delayed messages; None if absent."""
    try:
        url = clients.sqs.get_queue_url(QueueName=stack.queue.name)["QueueUrl"]
    except clients.sqs.exceptions.QueueDoesNotExist:
        return None
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=list(QUEUE_DEPTH)
    )["Attributes"]
    visible, in_flight, delayed = (int(attributes.get(n, 0)) for n in QUEUE_DEPTH)
    return QueueStatus(stack.queue.name, visible, in_flight, delayed)


def topic_status(stack: Stack, clients: Clients) -> TopicStatus | None:
    """The results topic and its subscriptions; None if absent."""
    sns = clients.sns
    try:
        sns.get_topic_attributes(TopicArn=stack.topic_arn)
    except sns.exceptions.NotFoundException:
        return None
    entries = [
        SubscriptionStatus(
            sub.protocol,
            sub.endpoint,
            sub.attributes.get("FilterPolicy"),
            sub.attributes.get("PendingConfirmation") == "false",
        )
        for sub in subscriptions(clients, stack.topic_arn)
    ]
    return TopicStatus(stack.topic.name, stack.topic_arn, entries)
