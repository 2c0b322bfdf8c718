"""The stack model: the kinds of resource a Cellenics stack is made of, as data.

This module says *what* a stack can hold; one module per profile
(`cellenics_2021`, `cellenics_current`) says what each profile holds, and
`profiles.stack_for` picks one from the settings. `provision` says *how* it is
made to exist. Keeping these apart lets the definition be read (and tested)
without a server, and lets the same definition serve both roads.
"""

from __future__ import annotations

import dataclasses
import json

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
    exposed_headers: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ("*",)
    allowed_headers: tuple[str, ...] = ("*",)

    @property
    def definition(self) -> dict[str, object]:
        """The rule as PutBucketCors takes it and GetBucketCors returns it."""
        rule: dict[str, object] = {
            "ID": self.rule_id,
            "AllowedHeaders": list(self.allowed_headers),
            "AllowedMethods": list(self.allowed_methods),
            "AllowedOrigins": list(self.allowed_origins),
        }
        if self.exposed_headers:
            rule["ExposeHeaders"] = list(self.exposed_headers)
        return rule


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
class LifecycleRule:
    """A bucket lifecycle rule as iac writes it (stored; moto does not expire)."""

    rule_id: str
    expiration_days: int | None = None
    noncurrent_days: int | None = None
    tag: tuple[str, str] | None = None
    """Only objects with this tag (key, value); None: every object."""

    @property
    def definition(self) -> dict[str, object]:
        """The rule as PutBucketLifecycleConfiguration takes it."""
        rule: dict[str, object] = {
            "ID": self.rule_id,
            "Status": "Enabled",
            "Filter": (
                {"Tag": {"Key": self.tag[0], "Value": self.tag[1]}}
                if self.tag
                else {"Prefix": ""}
            ),
        }
        if self.expiration_days is not None:
            rule["Expiration"] = {"Days": self.expiration_days}
        if self.noncurrent_days is not None:
            rule["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": self.noncurrent_days
            }
        return rule


@dataclasses.dataclass(frozen=True)
class Bucket:
    """An S3 bucket with its versioning, CORS and lifecycle rules."""

    name: str
    versioned: bool = False
    cors: tuple[CorsRule, ...] = ()
    lifecycle: tuple[LifecycleRule, ...] = ()

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
class RetryPolicy:
    """An SNS `healthyRetryPolicy`: how often and how late a delivery is retried.

    The retries fall into phases as in AWS: some at once, some at the minimum
    delay, then an exponential backoff from the minimum to the maximum, then
    the rest at the maximum.
    """

    min_delay: float
    max_delay: float
    retries: int
    no_delay_retries: int = 0
    min_delay_retries: int = 0
    max_delay_retries: int = 0

    @property
    def definition(self) -> dict[str, object]:
        """The policy as an SNS DeliveryPolicy's `healthyRetryPolicy`."""
        return {
            "minDelayTarget": self.min_delay,
            "maxDelayTarget": self.max_delay,
            "numRetries": self.retries,
            "numNoDelayRetries": self.no_delay_retries,
            "numMinDelayRetries": self.min_delay_retries,
            "numMaxDelayRetries": self.max_delay_retries,
            "backoffFunction": "exponential",
        }

    def delay(self, retry: int) -> float | None:
        """Seconds before retry number `retry` (1-based); None once all are spent."""
        if retry > self.retries:
            return None
        if retry <= self.no_delay_retries:
            return 0.0
        retry -= self.no_delay_retries
        if retry <= self.min_delay_retries:
            return self.min_delay
        retry -= self.min_delay_retries
        backoff = (
            self.retries
            - self.no_delay_retries
            - self.min_delay_retries
            - self.max_delay_retries
        )
        if retry > backoff or backoff <= 0:
            return self.max_delay
        if backoff == 1:
            return self.min_delay
        ratio = self.max_delay / self.min_delay if self.min_delay else 1.0
        return float(self.min_delay * ratio ** ((retry - 1) / (backoff - 1)))

    def scaled(self, min_delay: float, max_delay: float) -> RetryPolicy:
        """The same retries with other delays (tests make them short)."""
        return dataclasses.replace(self, min_delay=min_delay, max_delay=max_delay)


@dataclasses.dataclass(frozen=True)
class Relay:
    """What stands in for iac's `sns-endpoint-lambda`: the topic delivers to an
    SQS queue (raw delivery off, so the SNS envelope is kept) that inframock's
    relay drains, POSTing each message to the API as the Lambda does."""

    queue: str
    routes: tuple[tuple[str, str], ...]
    """Message attribute `type` → path appended to the message's `apiUrl`."""
    events_path: str
    """Where a `reason: BackOff` message goes, on the API URL setting."""
    retry: RetryPolicy


@dataclasses.dataclass(frozen=True)
class Topic:
    """The SNS topic the worker (and the pipeline) publish results to."""

    name: str
    subscriptions: tuple[Subscription, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    relay: Relay | None = None


@dataclasses.dataclass(frozen=True)
class Queue:
    """An SQS queue and its attributes as iac sets them.

    The API's own CreateQueue on start passes a subset of them (FifoQueue and
    ContentBasedDeduplication) with the same values, so it finds the queue.
    """

    name: str
    attributes: tuple[tuple[str, str], ...]


WORK_QUEUE = Queue(
    name=f"{ENVIRONMENT}-queue.fifo",
    attributes=(
        ("FifoQueue", "true"),
        ("ContentBasedDeduplication", "true"),
        ("DeduplicationScope", "messageGroup"),
        ("FifoThroughputLimit", "perMessageGroupId"),
    ),
)
"""The work queue in `development` as iac's sns.yaml has made it since 2021."""


@dataclasses.dataclass(frozen=True)
class Function:
    """A Lambda function the pipeline's state machines invoke.

    Its code is a placeholder: the engine runs the function's handler natively
    (inframock/engine/stepfunctions/launcher.py), never in Docker.
    """

    name: str
    description: str
    runtime: str = "python3.8"
    handler: str = "index.handler"


LAUNCHER_ROLE = "inframock-pipeline-launcher"
"""The IAM role the launcher functions name (moto checks that it exists)."""

PIPELINE_LAUNCHERS = (
    Function(
        "remove-previous-pipeline-containers",
        "Removes the pipeline runners still running (natively: inframock)",
    ),
    Function(
        "local-container-launcher",
        "Starts a pipeline runner for an activity (natively: inframock)",
    ),
)
"""The two functions of the pipeline's local-runner
(`cf-local-container-launcher.yaml`), which the API's development state
machines invoke first."""


@dataclasses.dataclass(frozen=True)
class DataRules:
    """Which file of an experiment folder goes where."""

    table_files: tuple[tuple[str, str], ...]
    """File name pattern → table kind (the table is `<kind>-development`)."""
    source_file: str
    """The gzipped `r.rds` that goes to `<source bucket>/<id>/r.rds`."""
    matrix_file: str
    """The gzipped processed matrix that goes to `<matrix bucket>/<id>/r.rds`."""
    cell_sets_pattern: str
    source_bucket: str
    matrix_bucket: str
    cell_sets_bucket: str
    source_serves_as_matrix: bool
    """Copy the source to the matrix bucket when there is no matrix file."""

    @property
    def table_kinds(self) -> tuple[str, ...]:
        """The table kinds files load into, in order."""
        return tuple(kind for _, kind in self.table_files)

    @property
    def buckets(self) -> tuple[str, ...]:
        """The buckets the data folder loads into."""
        return (self.source_bucket, self.matrix_bucket, self.cell_sets_bucket)


@dataclasses.dataclass(frozen=True)
class Stack:
    """Everything provisioning creates, what the data folder loads, what runs."""

    profile: str
    region: str
    tables: tuple[Table, ...]
    buckets: tuple[Bucket, ...]
    topic: Topic
    queue: Queue
    data: DataRules
    services: tuple[str, ...] = ("aws", "redis")
    """The services `make run` starts for this profile."""
    functions: tuple[Function, ...] = ()
    """Lambda functions provisioned (the pipeline launcher)."""

    @property
    def function_role_arn(self) -> str:
        """The role the functions are created with."""
        return f"arn:aws:iam::{ACCOUNT_ID}:role/{LAUNCHER_ROLE}"

    def table(self, kind: str) -> Table | None:
        """The table for a kind of data (`experiments`, `samples`...), if any."""
        name = f"{kind}-{ENVIRONMENT}"
        return next((t for t in self.tables if t.name == name), None)

    @property
    def source_bucket(self) -> str:
        """Where experiment `r.rds` files live: `<bucket>/<experiment id>/r.rds`."""
        return self.data.source_bucket

    @property
    def topic_arn(self) -> str:
        """The ARN the worker publishes to."""
        return f"arn:aws:sns:{self.region}:{ACCOUNT_ID}:{self.topic.name}"


def with_indexes(stack: Stack, indexes: dict[str, tuple[Index, ...]]) -> Stack:
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
