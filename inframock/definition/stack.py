"""The Biomage resources as data: what the Cellenics services expect to exist.

This module says *what* the stack is; `provision` says *how* it is made to
exist. Keeping the two apart lets the definition be read (and tested) without a
server, and lets the same definition serve both the embedded and Docker roads.
"""

from __future__ import annotations

import dataclasses
import json

from inframock.settings import Settings

ENVIRONMENT = "development"
"""The Cellenics services name their resources after this environment locally."""

ACCOUNT_ID = "000000000000"
"""The account id the Cellenics API and worker build their ARNs and queue URLs from."""


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    """A KeySchema as DynamoDB takes and describes it."""
    keys = [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])
    return [{"AttributeName": name, "KeyType": kind} for name, kind in keys]


@dataclasses.dataclass(frozen=True)
class Index:
    """A global secondary index with string keys, billed per request like its table.

    The API queries these by name, so a table without them answers its queries
    with an error rather than an empty result.
    """

    name: str
    hash_key: str
    range_key: str | None = None
    included: tuple[str, ...] = ()
    """Non-key attributes projected into the index (INCLUDE); none: keys only."""

    @property
    def key_schema(self) -> list[dict[str, str]]:
        """The index's KeySchema."""
        return _key_schema(self.hash_key, self.range_key)

    @property
    def projection(self) -> dict[str, object]:
        """The Projection, exactly as DescribeTable reports it."""
        if not self.included:
            return {"ProjectionType": "KEYS_ONLY"}
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(self.included)}

    @property
    def definition(self) -> dict[str, object]:
        """The index as CreateTable and UpdateTable take it."""
        return {
            "IndexName": self.name,
            "KeySchema": self.key_schema,
            "Projection": self.projection,
        }


@dataclasses.dataclass(frozen=True)
class Table:
    """A DynamoDB table, billed per request, with a string hash (and range) key."""

    name: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()

    @property
    def key_names(self) -> tuple[str, ...]:
        """The attributes every item of the table must carry."""
        return (self.hash_key,) + ((self.range_key,) if self.range_key else ())

    @property
    def key_schema(self) -> list[dict[str, str]]:
        """The table's KeySchema."""
        return _key_schema(self.hash_key, self.range_key)

    @property
    def attribute_definitions(self) -> list[dict[str, str]]:
        """Every key attribute of the table and its indexes, all strings."""
        names = dict.fromkeys(
            self.key_names
            + tuple(
                name
                for index in self.indexes
                for name in (index.hash_key, index.range_key)
                if name
            )
        )
        return [{"AttributeName": name, "AttributeType": "S"} for name in names]


@dataclasses.dataclass(frozen=True)
class CorsRule:
    """A bucket CORS rule: which browser origins may call S3 directly, and how."""

    rule_id: str
    allowed_methods: tuple[str, ...]
    exposed_headers: tuple[str, ...]
    allowed_origins: tuple[str, ...] = ("*",)
    allowed_headers: tuple[str, ...] = ("*",)

    @property
    def definition(self) -> dict[str, object]:
        """The rule as PutBucketCors takes it and GetBucketCors returns it."""
        return {
            "ID": self.rule_id,
            "AllowedHeaders": list(self.allowed_headers),
            "AllowedMethods": list(self.allowed_methods),
            "AllowedOrigins": list(self.allowed_origins),
            "ExposeHeaders": list(self.exposed_headers),
        }


UI_UPLOADS = CorsRule(
    "uiHeadersRule",
    allowed_methods=("GET", "PUT", "POST", "DELETE"),
    exposed_headers=(
        "ETag",
        "x-amz-server-side-encryption",
        "x-amz-request-id",
        "x-amz-id-2",
    ),
)
"""iac's rule for the buckets the UI writes to: it PUTs files straight to
presigned URLs and reads the ETag of each part from the response, which a
browser only lets a script see when S3 exposes it."""


@dataclasses.dataclass(frozen=True)
class Bucket:
    """An S3 bucket; source and original uploads are versioned as in AWS."""

    name: str
    versioned: bool = False
    cors: tuple[CorsRule, ...] = ()

    @property
    def cors_rules(self) -> list[dict[str, object]]:
        """The CORS rules, as GetBucketCors returns them (none: no CORS)."""
        return [rule.definition for rule in self.cors]


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
    """An SQS queue and its attributes as iac sets them.

    The API's own CreateQueue on start passes a subset of them (FifoQueue and
    ContentBasedDeduplication) with the same values, so it finds the queue.
    """

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
    """The stack the Cellenics API, UI and worker expect in `development`.

    As in iac's `cf/*.yaml` (hms-dbmi-cellenics/iac, 2021-09-01).
    """
    env = ENVIRONMENT
    stack = Stack(
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
            Bucket(f"biomage-source-{env}", versioned=True, cors=(UI_UPLOADS,)),
            Bucket(f"biomage-originals-{env}", versioned=True, cors=(UI_UPLOADS,)),
        ),
        topic=Topic(
            name=f"work-results-{env}-{settings.sandbox_id}",
            subscriptions=(
                Subscription(f"{settings.api_url}/v1/workResults", "WorkResponse"),
                Subscription(
                    f"{settings.api_url}/v1/pipelineResults", "PipelineResponse"
                ),
                Subscription(f"{settings.api_url}/v1/gem2sResults", "GEM2SResponse"),
            ),
        ),
        queue=Queue(
            name=f"{env}-queue.fifo",
            attributes=(
                ("FifoQueue", "true"),
                ("ContentBasedDeduplication", "true"),
                ("DeduplicationScope", "messageGroup"),
                ("FifoThroughputLimit", "perMessageGroupId"),
            ),
        ),
    )
    return _with_indexes(
        stack,
        {
            f"samples-{env}": (
                Index(
                    "gsiByProjectAndExperimentID",
                    "projectUuid",
                    "experimentId",
                    included=("samples",),
                ),
            ),
        },
    )


def _with_indexes(stack: Stack, indexes: dict[str, tuple[Index, ...]]) -> Stack:
    """`stack` with these global secondary indexes on the tables they name.

    Kept apart from the table list so each table stays one line of it.
    """
    return dataclasses.replace(
        stack,
        tables=tuple(
            dataclasses.replace(table, indexes=indexes.get(table.name, table.indexes))
            for table in stack.tables
        ),
    )
