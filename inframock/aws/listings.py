"""Every AWS listing inframock reads, each written once and followed to its end.

Provisioning, status and snapshots all ask "which tables, buckets, topics,
queues and subscriptions are there?"; here is the one answer, paginated to the
last page however big the stack is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from inframock.aws.clients import Clients


def table_names(clients: Clients) -> list[str]:
    """Every DynamoDB table."""
    return _collect(clients.dynamodb, "list_tables", "TableNames")


def bucket_names(clients: Clients) -> list[str]:
    """Every S3 bucket."""
    return [b["Name"] for b in _collect(clients.s3, "list_buckets", "Buckets")]


def topic_arns(clients: Clients) -> list[str]:
    """Every SNS topic's ARN."""
    return [t["TopicArn"] for t in _collect(clients.sns, "list_topics", "Topics")]


def queue_urls(clients: Clients) -> list[str]:
    """Every SQS queue's URL."""
    return _collect(clients.sqs, "list_queues", "QueueUrls")


@dataclasses.dataclass(frozen=True)
class SubscriptionEntry:
    """A subscription of a topic, with its attributes (filter policy, state)."""

    arn: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]

    @property
    def confirmed(self) -> bool:
        """False while the subscription waits for its endpoint's confirmation."""
        return self.arn.startswith("arn:")


def subscriptions(clients: Clients, topic_arn: str) -> list[SubscriptionEntry]:
    """Every subscription of `topic_arn`, each with its attributes.

    A subscription pending confirmation has no ARN yet, hence no attributes.
    """
    entries = []
    for sub in _collect(
        clients.sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn
    ):
        arn = sub["SubscriptionArn"]
        attributes = (
            clients.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
            if arn.startswith("arn:")
            else {}
        )
        entries.append(
            SubscriptionEntry(arn, sub["Protocol"], sub["Endpoint"], attributes)
        )
    return entries


def function_names(clients: Clients) -> set[str]:
    """The names of the Lambda functions that exist."""
    pages = clients.awslambda.get_paginator("list_functions").paginate()
    return {f["FunctionName"] for page in pages for f in page["Functions"]}


def _collect(client: Any, operation: str, key: str, **arguments: Any) -> list[Any]:
    return [
        entry
        for page in client.get_paginator(operation).paginate(**arguments)
        for entry in page.get(key, [])
    ]
