"""SNS in a snapshot: every topic with its settings, tags and subscriptions.

Subscriptions keep their protocol, endpoint and the attributes that shape
deliveries (FilterPolicy and its scope, RawMessageDelivery, delivery and
redrive policies). Restored subscriptions get new ARNs, as any new
subscription does. Topics go after queues, so SQS endpoints exist again.
"""

from __future__ import annotations

from pathlib import Path

from inframock.aws.listings import subscriptions as subscriptions_of
from inframock.aws.listings import topic_arns
from inframock.features.snapshot.format import (
    Connection,
    checked_index,
    part_file,
    read_json,
    require,
    write_json,
)

INDEX = "topics.json"
TOPIC_ATTRIBUTES = (
    "DisplayName",
    "DeliveryPolicy",
    "Policy",
    "KmsMasterKeyId",
    "FifoTopic",
    "ContentBasedDeduplication",
    "SignatureVersion",
    "TracingConfig",
    "ArchivePolicy",
)
"""The topic attributes CreateTopic accepts (the rest are SNS's own counters)."""
SUBSCRIPTION_ATTRIBUTES = (
    "FilterPolicyScope",
    "FilterPolicy",
    "RawMessageDelivery",
    "DeliveryPolicy",
    "RedrivePolicy",
    "SubscriptionRoleArn",
)


def save(conn: Connection, folder: Path) -> dict[str, int]:
    """Write every topic and its subscriptions to `folder`."""
    sns = conn.clients.sns
    topics, subscriptions = [], 0
    for arn in topic_arns(conn.clients):
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        subs = [
            {
                "protocol": sub.protocol,
                "endpoint": sub.endpoint,
                "attributes": {
                    k: str(sub.attributes[k])
                    for k in SUBSCRIPTION_ATTRIBUTES
                    if sub.attributes.get(k) not in (None, "")
                },
            }
            for sub in subscriptions_of(conn.clients, arn)
        ]
        subscriptions += len(subs)
        topics.append(
            {
                "name": arn.rsplit(":", 1)[1],
                "attributes": {
                    k: str(attributes[k])
                    for k in TOPIC_ATTRIBUTES
                    if attributes.get(k) not in (None, "")
                },
                "tags": sns.list_tags_for_resource(ResourceArn=arn).get("Tags", []),
                "subscriptions": subs,
            }
        )
    write_json(folder / INDEX, topics)
    return {"topic": len(topics), "subscription": subscriptions}


def wipe(conn: Connection) -> None:
    """Delete every topic (and with it its subscriptions)."""
    sns = conn.clients.sns
    for arn in topic_arns(conn.clients):
        for sub in subscriptions_of(conn.clients, arn):
            if sub.confirmed:  # a pending one has no ARN to unsubscribe
                sns.unsubscribe(SubscriptionArn=sub.arn)
        sns.delete_topic(TopicArn=arn)


def check(folder: Path) -> None:
    """SnapshotError, naming the topic, for anything `restore` could not use."""
    for number, topic in enumerate(checked_index(folder, INDEX)):
        where = f"{folder.name}/{INDEX} topic {number}"
        require(topic, where, name=str, attributes=dict, tags=list)
        require(topic, where, subscriptions=list)
        for sub in topic["subscriptions"]:
            require(sub, where, protocol=str, endpoint=str, attributes=dict)


def restore(conn: Connection, folder: Path) -> None:
    """Create the saved topics and subscribe their endpoints again."""
    sns = conn.clients.sns
    for topic in read_json(part_file(folder, INDEX)):
        options = {"Tags": topic["tags"]} if topic["tags"] else {}
        arn = sns.create_topic(
            Name=topic["name"], Attributes=topic["attributes"], **options
        )["TopicArn"]
        for sub in topic["subscriptions"]:
            sns.subscribe(
                TopicArn=arn,
                Protocol=sub["protocol"],
                Endpoint=sub["endpoint"],
                Attributes=sub["attributes"],
                ReturnSubscriptionArn=True,
            )
