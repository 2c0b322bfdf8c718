"""The Biomage resources as data: what the Cellenics services expect to exist.

This module says *what* the stack is; `provision` says *how* it is made to
exist. Keeping the two apart lets the definition be read (and tested) without a
server, and lets the same definition serve both the embedded and Docker roads.
"""

from __future__ import annotations

import dataclasses
import json

from populate.settings import Settings

ENVIRONMENT = "development"
"""The Cellenics services name their resources after this environment locally."""

ACCOUNT_ID = "000000000000"
"""The account id the Cellenics API and worker build their ARNs and queue URLs from."""


@dataclasses.dataclass(frozen=True)
class Table:
    """A DynamoDB table, billed per request, with a string hash (and range) key."""

    name: str
    hash_key: str
    range_key: str | None = None

    @property
    def key_names(self) -> tuple[str, ...]:
        """The attributes every item of the table must carry."""
        return (self.hash_key,) + ((self.range_key,) if self.range_key else ())


@dataclasses.dataclass(frozen=True)
class Bucket:
    """An S3 bucket; source and original uploads are versioned as in AWS."""

    name: str
    versioned: bool = False


@dataclasses.dataclass(frozen=True)
class Subscription:
    """An HTTP subscription of the results topic, filtered on the `type` attribute."""

    endpoint: str
    message_type: str

    @property
    def filter_policy(self) -> str:
        """The FilterPolicy JSON, exactly as SNS stores it."""
        return json.dumps({"type": [self.message_type]})


@dataclasses.dataclass(frozen=True)
class Topic:
    """The SNS topic the worker publishes results to."""

    name: str
    subscriptions: tuple[Subscription, ...]


@dataclasses.dataclass(frozen=True)
class Queue:
    """An SQS queue and the exact attributes the API creates it with."""

    name: str
    attributes: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class Stack:
    """Everything provisioning creates."""

    region: str
    tables: tuple[Table, ...]
    buckets: tuple[Bucket, ...]
    topic: Topic
    queue: Queue

    def table(self, kind: str) -> Table:
        """The table for a kind of data (`experiments`, `samples`, `plots-tables`)."""
        name = f"{kind}-{ENVIRONMENT}"
        return next(t for t in self.tables if t.name == name)

    @property
    def source_bucket(self) -> str:
        """Where experiment `r.rds` files live: `<bucket>/<experiment id>/r.rds`."""
        return f"biomage-source-{ENVIRONMENT}"

    @property
    def topic_arn(self) -> str:
        """The ARN the worker publishes to."""
        return f"arn:aws:sns:{self.region}:{ACCOUNT_ID}:{self.topic.name}"


def biomage_stack(settings: Settings) -> Stack:
    """The stack the Cellenics API, UI and worker expect in `development`."""
    env = ENVIRONMENT
    return Stack(
        region=settings.region,
        tables=(
            Table(f"experiments-{env}", "experimentId"),
            Table(f"samples-{env}", "experimentId"),
            Table(f"projects-{env}", "projectUuid"),
            Table(f"plots-tables-{env}", "experimentId", "plotUuid"),
        ),
        buckets=(
            Bucket(f"plots-tables-{env}"),
            Bucket(f"cell-sets-{env}"),
            Bucket(f"worker-results-{env}"),
            Bucket(f"processed-matrix-{env}"),
            Bucket(f"biomage-source-{env}", versioned=True),
            Bucket(f"biomage-originals-{env}", versioned=True),
        ),
        topic=Topic(
            name=f"work-results-{env}-{settings.sandbox_id}",
            subscriptions=(
                Subscription(f"{settings.api_url}/v1/workResults", "WorkResponse"),
                Subscription(
                    f"{settings.api_url}/v1/pipelineResults", "PipelineResponse"
                ),
            ),
        ),
        queue=Queue(
            name=f"{env}-queue.fifo",
            attributes=(("FifoQueue", "true"), ("ContentBasedDeduplication", "true")),
        ),
    )
