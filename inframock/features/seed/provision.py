"""Make the stack definition exist on an endpoint, idempotently.

Each step first asks what exists and only creates or corrects what differs, so
running provisioning on a provisioned stack changes nothing and fails on nothing,
whichever engine (moto, LocalStack, ...) answers.
"""

from __future__ import annotations

import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor

from inframock.aws.clients import Clients
from inframock.aws.listings import (
    bucket_names,
    function_names,
    subscriptions,
    table_names,
)
from inframock.aws import resources
from inframock.aws.resources import bucket_cors, bucket_lifecycle_ids
from inframock.model.stack import LAUNCHER_ROLE, Bucket, Relay, Stack, Table


def provision(stack: Stack, clients: Clients) -> list[str]:
    """Create every resource of `stack` that is missing; return what was created."""
    tables, buckets = set(table_names(clients)), set(bucket_names(clients))
    steps = [lambda t=t: _table(clients, t, t.name in tables) for t in stack.tables]
    steps += [lambda b=b: _bucket(clients, b, b.name in buckets) for b in stack.buckets]
    # Chains of several calls one after the other, started first so the pool
    # ends them with the rest: the functions (a role, a listing, each
    # function) and the topic (its relay queue and subscriptions).
    chains = [lambda: _topic(clients, stack), lambda: _queue(clients, stack)]
    if stack.functions:
        chains.append(lambda: _functions(clients, stack))
    with ThreadPoolExecutor(max_workers=4) as pool:
        chained = [pool.submit(step) for step in reversed(chains)]  # functions 1st
        single = [pool.submit(step) for step in steps]
        results = [f.result() for f in single + chained[::-1]]  # the stack's order
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


def _table(clients: Clients, table: Table, exists: bool) -> list[str]:
    """`exists`: the table was listed before provisioning began (one listing
    for all of them)."""
    ddb = clients.dynamodb
    if exists:
        return _indexes(clients, table)
    try:
        ddb.create_table(
            TableName=table.name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=table.key_schema,
            AttributeDefinitions=table.attribute_definitions,
            **(
                {"GlobalSecondaryIndexes": [i.definition for i in table.indexes]}
                if table.indexes
                else {}
            ),
        )
    except ddb.exceptions.ResourceInUseException:
        return []  # created meanwhile by another provisioner
    ddb.get_waiter("table_exists").wait(
        TableName=table.name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    return [f"table {table.name}"]


def _indexes(clients: Clients, table: Table) -> list[str]:
    """Add the indexes an existing table lacks (one made before they were defined)."""
    description = clients.dynamodb.describe_table(TableName=table.name)["Table"]
    present = {i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])}
    created = []
    for index in table.indexes:
        if index.name in present:
            continue
        clients.dynamodb.update_table(
            TableName=table.name,
            AttributeDefinitions=table.attribute_definitions,
            GlobalSecondaryIndexUpdates=[{"Create": index.definition}],
        )
        created.append(f"index {table.name}/{index.name}")
    return created


def _bucket(clients: Clients, bucket: Bucket, exists: bool) -> list[str]:
    """`exists`: the bucket was listed before provisioning began. One this
    call creates has no versioning, lifecycle or CORS yet: they are set
    without first asking (a third of a fresh stack's S3 requests)."""
    s3 = clients.s3
    created = []
    new = False
    if not exists:
        options = {}
        if clients.region != "us-east-1":
            options["CreateBucketConfiguration"] = {
                "LocationConstraint": clients.region
            }
        try:
            s3.create_bucket(Bucket=bucket.name, **options)
            created.append(f"bucket {bucket.name}")
            new = True
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass  # created meanwhile by another provisioner
    if bucket.versioned and (
        new or s3.get_bucket_versioning(Bucket=bucket.name).get("Status") != "Enabled"
    ):
        s3.put_bucket_versioning(
            Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"}
        )
    if bucket.lifecycle and (
        new
        or bucket_lifecycle_ids(clients, bucket.name)
        != [rule.rule_id for rule in bucket.lifecycle]
    ):
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket.name,
            LifecycleConfiguration={
                "Rules": [rule.definition for rule in bucket.lifecycle]
            },
        )
        created.append(f"lifecycle of bucket {bucket.name}")
    if bucket.cors and (new or bucket_cors(clients, bucket.name) != bucket.cors_rules):
        s3.put_bucket_cors(
            Bucket=bucket.name,
            CORSConfiguration={"CORSRules": bucket.cors_rules},
        )
        created.append(f"cors of bucket {bucket.name}")
    return created


def _topic(clients: Clients, stack: Stack) -> list[str]:
    sns = clients.sns
    created = []
    arn = stack.topic_arn  # the ARN the worker builds and publishes to
    try:
        sns.get_topic_attributes(TopicArn=arn)
    except sns.exceptions.NotFoundException:
        arn = sns.create_topic(
            Name=stack.topic.name, Attributes=dict(stack.topic.attributes)
        )["TopicArn"]
        created.append(f"topic {stack.topic.name}")
    if stack.topic.relay is not None:
        created += _relay(clients, stack, arn, stack.topic.relay)
    existing = {
        sub.endpoint: sub
        for sub in subscriptions(clients, arn)
        if sub.protocol == "http"
    }
    for sub in stack.topic.subscriptions:
        if sub.endpoint in existing:
            present = existing[sub.endpoint]
            if present.attributes.get("FilterPolicy") != sub.filter_policy:
                sns.set_subscription_attributes(
                    SubscriptionArn=present.arn,
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


def _relay(clients: Clients, stack: Stack, topic_arn: str, relay: Relay) -> list[str]:
    """The relay's queue, subscribed to the topic with the SNS envelope kept."""
    created = []
    try:
        url = clients.sqs.get_queue_url(QueueName=relay.queue)["QueueUrl"]
    except clients.sqs.exceptions.QueueDoesNotExist:
        url = clients.sqs.create_queue(QueueName=relay.queue)["QueueUrl"]
        created.append(f"queue {relay.queue}")
    queue_arn = resources.queue_arn(clients, url)
    present = [
        sub
        for sub in subscriptions(clients, topic_arn)
        if sub.protocol == "sqs" and sub.endpoint == queue_arn
    ]
    if not present:
        clients.sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={
                "RawMessageDelivery": "false",
                "DeliveryPolicy": json.dumps(
                    {"healthyRetryPolicy": relay.retry.definition}
                ),
            },
            ReturnSubscriptionArn=True,
        )
        created.append(f"subscription {queue_arn} (relay of {stack.topic.name})")
    return created


def _queue(clients: Clients, stack: Stack) -> list[str]:
    sqs = clients.sqs
    try:
        url = sqs.get_queue_url(QueueName=stack.queue.name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        sqs.create_queue(
            QueueName=stack.queue.name, Attributes=dict(stack.queue.attributes)
        )
        return [f"queue {stack.queue.name}"]
    # Made by someone else first (the API creates it with only some of these).
    differing = queue_attributes_differing(clients, stack)
    differing.pop("FifoQueue", None)  # fixed at creation; the .fifo name implies it
    if not differing:
        return []
    sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)
    return [f"attributes {', '.join(differing)} of queue {stack.queue.name}"]


def queue_attributes_differing(clients: Clients, stack: Stack) -> dict[str, str]:
    """The queue's attributes that differ from the definition, with their values."""
    url = clients.sqs.get_queue_url(QueueName=stack.queue.name)["QueueUrl"]
    wanted = dict(stack.queue.attributes)
    actual = clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=list(wanted)
    )["Attributes"]
    return {k: v for k, v in wanted.items() if actual.get(k) != v}


PLACEHOLDER_CODE = (
    "# inframock's engine runs this function natively "
    "(inframock/engine/stepfunctions/launcher.py).\n"
    "def handler(event, context):\n    raise NotImplementedError\n"
)
LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", PLACEHOLDER_CODE)
    return buffer.getvalue()


def _functions(clients: Clients, stack: Stack) -> list[str]:
    """The launcher functions and their role (a function replaced by the
    pipeline's local-runner stays as it made it)."""
    created = []
    try:
        clients.iam.get_role(RoleName=LAUNCHER_ROLE)
    except clients.iam.exceptions.NoSuchEntityException:
        clients.iam.create_role(
            RoleName=LAUNCHER_ROLE, AssumeRolePolicyDocument=LAMBDA_TRUST
        )
        created.append(f"role {LAUNCHER_ROLE}")
    present = function_names(clients)
    for function in stack.functions:
        if function.name in present:
            continue
        clients.awslambda.create_function(
            FunctionName=function.name,
            Runtime=function.runtime,
            Handler=function.handler,
            Role=stack.function_role_arn,
            Description=function.description,
            Code={"ZipFile": _placeholder_zip()},
            Timeout=25,
        )
        created.append(f"function {function.name}")
    return created
