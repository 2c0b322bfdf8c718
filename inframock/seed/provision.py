"""Make the stack definition exist on an endpoint, idempotently.

Each step first asks what exists and only creates or corrects what differs, so
running provisioning on a provisioned stack changes nothing and fails on nothing,
whichever engine (moto, LocalStack, ...) answers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from inframock.aws.clients import Clients
from inframock.definition.stack import Bucket, Stack, Table


def provision(stack: Stack, clients: Clients) -> list[str]:
    """Create every resource of `stack` that is missing; return what was created."""
    steps = [lambda t=t: _table(clients, t) for t in stack.tables]
    steps += [lambda b=b: _bucket(clients, b) for b in stack.buckets]
    steps += [lambda: _topic(clients, stack), lambda: _queue(clients, stack)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda step: step(), steps))
    return [created for result in results for created in result]


def stack_identity(stack: Stack, clients: Clients) -> str:
    """What tells this stack from a restarted one: its endpoint and queue's birth.

    Found through the public API, so it works with any engine on either road.
    """
    url = clients.sqs.get_queue_url(QueueName=stack.queue.name)["QueueUrl"]
    created = clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["CreatedTimestamp"]
    )["Attributes"]["CreatedTimestamp"]
    return f"{clients.endpoint} {created}"


def _table(clients: Clients, table: Table) -> list[str]:
    existing: set[str] = set()
    for page in clients.dynamodb.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    if table.name in existing:
        return []
    keys = [(table.hash_key, "HASH")] + (
        [(table.range_key, "RANGE")] if table.range_key else []
    )
    try:
        clients.dynamodb.create_table(
            TableName=table.name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": n, "KeyType": k} for n, k in keys],
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n, _ in keys
            ],
        )
    except clients.dynamodb.exceptions.ResourceInUseException:
        return []  # created meanwhile by another provisioner
    clients.dynamodb.get_waiter("table_exists").wait(
        TableName=table.name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    return [f"table {table.name}"]


def _bucket(clients: Clients, bucket: Bucket) -> list[str]:
    s3 = clients.s3
    created = []
    try:
        s3.head_bucket(Bucket=bucket.name)
    except s3.exceptions.ClientError:
        options = {}
        if clients.region != "us-east-1":
            options["CreateBucketConfiguration"] = {
                "LocationConstraint": clients.region
            }
        try:
            s3.create_bucket(Bucket=bucket.name, **options)
            created.append(f"bucket {bucket.name}")
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
    if bucket.versioned:
        status = s3.get_bucket_versioning(Bucket=bucket.name).get("Status")
        if status != "Enabled":
            s3.put_bucket_versioning(
                Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"}
            )
    return created


def _topic(clients: Clients, stack: Stack) -> list[str]:
    sns = clients.sns
    created = []
    arn = stack.topic_arn  # the ARN the worker builds and publishes to
    try:
        sns.get_topic_attributes(TopicArn=arn)
    except sns.exceptions.NotFoundException:
        arn = sns.create_topic(Name=stack.topic.name)["TopicArn"]
        created.append(f"topic {stack.topic.name}")
    existing = {
        sub["Endpoint"]: sub["SubscriptionArn"]
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=arn
        )
        for sub in page["Subscriptions"]
        if sub["Protocol"] == "http"
    }
    for sub in stack.topic.subscriptions:
        if sub.endpoint in existing:
            sub_arn = existing[sub.endpoint]
            attributes = sns.get_subscription_attributes(SubscriptionArn=sub_arn)
            if attributes["Attributes"].get("FilterPolicy") != sub.filter_policy:
                sns.set_subscription_attributes(
                    SubscriptionArn=sub_arn,
                    AttributeName="FilterPolicy",
                    AttributeValue=sub.filter_policy,
                )
            continue
        sns.subscribe(
            TopicArn=arn,
            Protocol="http",
            Endpoint=sub.endpoint,
            Attributes={"FilterPolicy": sub.filter_policy},
            ReturnSubscriptionArn=True,
        )
        created.append(f"subscription {sub.endpoint} ({sub.message_type})")
    return created


def _queue(clients: Clients, stack: Stack) -> list[str]:
    sqs = clients.sqs
    try:
        sqs.get_queue_url(QueueName=stack.queue.name)
        return []
    except sqs.exceptions.QueueDoesNotExist:
        sqs.create_queue(
            QueueName=stack.queue.name, Attributes=dict(stack.queue.attributes)
        )
        return [f"queue {stack.queue.name}"]
