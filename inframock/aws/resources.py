"""What one AWS resource is configured with: a bucket's CORS and lifecycle
rules, a queue's ARN.

Provisioning compares these with the stack definition, `make status` reports
where they differ, snapshots save them and the relay subscribes its queue by
its ARN: one client-side read each, in the layer every one of those may
import (they once lived in seed.provision, which made snapshot, status and
the relay depend on seeding).
"""

from __future__ import annotations

from inframock.aws.clients import Clients


def bucket_cors(clients: Clients, name: str) -> list[dict[str, object]]:
    """The CORS rules bucket `name` has; none when it has no CORS configuration."""
    try:
        return clients.s3.get_bucket_cors(Bucket=name)["CORSRules"]
    except clients.s3.exceptions.ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchCORSConfiguration":
            return []
        raise


def bucket_lifecycle_ids(clients: Clients, name: str) -> list[str]:
    """The ids of the lifecycle rules bucket `name` has, in order."""
    try:
        rules = clients.s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    except clients.s3.exceptions.ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
            return []
        raise
    return [rule.get("ID", "") for rule in rules]


def queue_arn(clients: Clients, url: str) -> str:
    """The ARN of the queue at `url` (what an SNS subscription to it names)."""
    return clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
