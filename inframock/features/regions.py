"""Regions disagreeing: the classic local failure, told before it bites.

SQS and SNS are region-scoped, the Cellenics worker is pinned to `eu-west-1`,
and the API builds the topic ARN it accepts deliveries from out of its own
region. A topic or queue made in one region and looked for in another just
"does not exist", so `make status` says where each one is.
"""

from __future__ import annotations

from inframock.aws.clients import Clients
from inframock.model.stack import ACCOUNT_ID, Stack
from inframock.core.settings import Settings

WORKER_REGION = "eu-west-1"
"""The region the worker's python side hard-codes (worker:config/__init__.py)."""


def region_warnings(settings: Settings, stack: Stack, clients: Clients) -> list[str]:
    """What disagrees among AWS_DEFAULT_REGION, the worker's region, and the
    regions the topic and the work queue actually exist in.

    `clients` are the caller's, for AWS_DEFAULT_REGION; another region gets
    clients of its own (a botocore session and its models: 0.1 s each).
    """
    regions = sorted({settings.region, WORKER_REGION})
    in_region = {
        r: (
            clients
            if r == clients.region
            else Clients(clients.endpoint, r, clients.purpose)
        )
        for r in regions
    }
    topic_in = [r for r in regions if _topic_exists(in_region[r], stack)]
    queue_in = [r for r in regions if _queue_exists(in_region[r], stack)]
    warnings = []
    if settings.region != WORKER_REGION:
        warnings.append(
            f"AWS_DEFAULT_REGION is {settings.region} but the worker is pinned to "
            f"{WORKER_REGION}: it will not see a queue or topic made in "
            f"{settings.region}"
        )
    for kind, name, found in (
        ("topic", stack.topic.name, topic_in),
        ("queue", stack.queue.name, queue_in),
    ):
        if found and settings.region not in found:
            warnings.append(
                f"{kind} {name} is in {', '.join(found)}, not in AWS_DEFAULT_REGION "
                f"{settings.region}"
            )
    if topic_in and queue_in and topic_in != queue_in:
        warnings.append(
            f"topic {stack.topic.name} is in {', '.join(topic_in)} but queue "
            f"{stack.queue.name} in {', '.join(queue_in)}"
        )
    return warnings


def _topic_exists(clients: Clients, stack: Stack) -> bool:
    sns = clients.sns
    try:
        sns.get_topic_attributes(
            TopicArn=f"arn:aws:sns:{clients.region}:{ACCOUNT_ID}:{stack.topic.name}"
        )
    except sns.exceptions.NotFoundException:
        return False
    return True


def _queue_exists(clients: Clients, stack: Stack) -> bool:
    sqs = clients.sqs
    try:
        sqs.get_queue_url(QueueName=stack.queue.name)
    except sqs.exceptions.QueueDoesNotExist:
        return False
    return True
