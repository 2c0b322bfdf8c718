"""`make status`: what the stack's services and resources are like now.

Status asks the services themselves (over HTTP and RESP), so it describes a
stack on either road; the state file only adds what the services cannot say
(which processes run them, hence their uptime and memory, and which versions
were started). Every listing follows its pagination to the end, so the counts
are exact however big the stack is.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any

import psutil
import redis
from botocore.exceptions import BotoCoreError, ClientError

from inframock.aws.clients import Clients
from inframock.aws.listings import (
    bucket_names,
    function_names,
    subscriptions,
    table_names,
)
from inframock.model.profiles import runs, stack_for
from inframock.model.stack import Bucket, Stack, Table
from inframock.roads.embedded.record import StackRecord
from inframock.features.pipeline_runs import PipelineRun, pipeline_runs
from inframock.core.probes import redis_ping, stack_is_reachable
from inframock.aws import resources
from inframock.aws.resources import bucket_cors, bucket_lifecycle_ids
from inframock.features.seed.provision import queue_attributes_differing
from inframock.features.regions import region_warnings
from inframock.core.settings import Settings, url_host

QUEUE_DEPTH = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
"""Waiting, in flight (received, not yet deleted), and delayed messages."""


@dataclasses.dataclass
class ServiceStatus:
    """One service as seen from outside, and its process when inframock started it."""

    name: str
    up: bool
    address: str
    version: str
    pid: int | None = None
    uptime_seconds: float | None = None
    memory_bytes: int | None = None
    """Resident memory of the process (Redis: as Redis reports it)."""


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


@dataclasses.dataclass
class StackStatus:
    """Everything `make status` shows; `--json` prints exactly this."""

    healthy: bool
    services: list[ServiceStatus]
    started_by_pid: int | None
    missing: list[str] = dataclasses.field(default_factory=list)
    problem: str = ""
    """Why the stack's resources could not be read, if they could not."""
    experiments: dict[str, ExperimentStatus] = dataclasses.field(default_factory=dict)
    buckets: dict[str, BucketStatus] = dataclasses.field(default_factory=dict)
    queue: QueueStatus | None = None
    topic: TopicStatus | None = None
    compose_project: str | None = None
    """The Compose project on the Docker road; None on the embedded road."""
    profile: str = ""
    """The profile (INFRAMOCK_PROFILE) whose definition status checked against."""
    warnings: list[str] = dataclasses.field(default_factory=list)
    """What works but will likely trip a service (e.g. regions disagreeing)."""
    persisted: str = ""
    """What the running stack restored at start, when it keeps its state."""
    pipeline_runs: list[PipelineRun] = dataclasses.field(default_factory=list)
    """Running and recent state machine executions (pipeline runs)."""
    started_by: str = ""
    """The command that started the stack (`make run` or `make start`)."""


def collect_status(
    settings: Settings, aws_version: str = "", stale: str = ""
) -> StackStatus:
    """Ask every service and resource of the stack how it is.

    `aws_version` names the AWS engine when no record of `make run` does;
    `stale` says what a killed stack's record left (see embedded/found.py).
    """
    record = StackRecord.read_live(settings.state_dir)
    pids = record.pids if record else {}
    services = [
        _aws_status(settings, record, pids.get("aws"), aws_version),
        _redis_status(settings, pids.get("redis")),
    ]
    if runs(settings, "postgres"):
        services.append(_postgres_status(settings, record, pids.get("postgres")))
    status = StackStatus(False, services, record.pid if record else None)
    status.profile = settings.profile
    status.started_by = record.command if record else ""
    if record is not None and record.persist:
        # pylint: disable-next=import-outside-toplevel
        from inframock.engine import persistence

        status.persisted = persistence.describe_restore(
            persistence.last_restore(settings.persist_dir, pids.get("aws")),
            settings.persist_dir,
        )
    if not services[0].up:
        status.problem = stale or _not_answering(services[0], record)
        return status
    clients = Clients(settings.aws_endpoint, settings.region, purpose="status")
    stack = stack_for(settings)
    try:
        status.missing = missing_resources(stack, clients)
        status.experiments, status.buckets = _contents(stack, clients)
        status.queue = _queue(stack, clients)
        status.topic = _topic(stack, clients)
        status.pipeline_runs = pipeline_runs(clients)
        status.warnings = region_warnings(settings, stack)
        if record is not None and record.profile not in ("", settings.profile):
            status.warnings.insert(
                0,
                f"the running stack serves profile {record.profile}; this status "
                f"checks it against INFRAMOCK_PROFILE={settings.profile}",
            )
    except (BotoCoreError, ClientError) as err:
        status.problem = f"cannot read the stack: {err}"
    if stale:
        status.warnings.insert(0, stale)
    status.warnings += _empty_schema(settings, services)
    status.healthy = (
        all(s.up for s in services) and not status.missing and not status.problem
    )
    return status


def _not_answering(aws: ServiceStatus, record: StackRecord | None) -> str:
    """Why the AWS endpoint does not answer, as the record says, and what to do."""
    if record is None:
        return "the AWS endpoint does not answer: start the stack with `make run`"
    return (
        f"the stack (pid {record.pid}, {record.command}) runs but its AWS endpoint "
        f"{aws.address} does not answer: still starting (`make logs`), or stuck: "
        "`make stop`, then `make run`"
    )


def _empty_schema(settings: Settings, services: list[ServiceStatus]) -> list[str]:
    """A warning when PostgreSQL answers with no tables (before `make migrate`)."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.services.postgres.server import EMPTY_SCHEMA, public_tables

    postgres = next((s for s in services if s.name == "postgres" and s.up), None)
    if postgres is None:
        return []
    tables = public_tables(settings.client_host, settings.postgres_port)
    return [f"postgres: {EMPTY_SCHEMA}"] if tables == 0 else []


def _process(service: ServiceStatus, pid: int | None) -> ServiceStatus:
    """Fill in pid, uptime and memory from the service's process, if it runs."""
    if pid is None:
        return service
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            service.uptime_seconds = round(time.time() - process.create_time(), 1)
            service.memory_bytes = process.memory_info().rss
        service.pid = pid
    except psutil.Error:
        pass
    return service


def _aws_status(
    settings: Settings, record: StackRecord | None, pid: int | None, known: str
) -> ServiceStatus:
    version = record.services.get("aws", "") if record else known
    up = stack_is_reachable(settings)
    service = ServiceStatus("aws", up, settings.aws_endpoint, version or "?")
    return _process(service, pid) if up else service


def _postgres_status(
    settings: Settings, record: StackRecord | None, pid: int | None
) -> ServiceStatus:
    # pylint: disable-next=import-outside-toplevel
    from inframock.services.postgres.server import DATABASE, SUPERUSER, server_version

    host, port = settings.client_host, settings.postgres_port
    url = f"postgresql://{SUPERUSER}@{url_host(host)}:{port}/{DATABASE}"
    # Not started by `make run` (a Compose container): the server says itself.
    known = record.services.get("postgres", "") if record else ""
    answered = server_version(host, port)
    service = ServiceStatus("postgres", bool(answered), url, known or answered or "?")
    return _process(service, pid) if service.up else service


def _redis_status(settings: Settings, pid: int | None) -> ServiceStatus:
    host, port = settings.client_host, settings.redis_port
    service = ServiceStatus("redis", redis_ping(host, port), settings.redis_url, "?")
    if not service.up:
        return service
    client = redis.Redis(host=host, port=port, socket_timeout=2)
    info = client.info("server")
    server = "valkey" if "valkey_version" in info else "redis"
    service.version = (
        f"{server} {info.get('valkey_version', info.get('redis_version'))}"
    )
    if pid is None:  # not started by `make run` (e.g. Compose): Redis says itself
        service.uptime_seconds = float(info["uptime_in_seconds"])
        service.memory_bytes = int(client.info("memory")["used_memory_rss"])
        return service
    return _process(service, pid)


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


def _contents(
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


def _queue(stack: Stack, clients: Clients) -> QueueStatus | None:
    try:
        url = clients.sqs.get_queue_url(QueueName=stack.queue.name)["QueueUrl"]
    except clients.sqs.exceptions.QueueDoesNotExist:
        return None
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=list(QUEUE_DEPTH)
    )["Attributes"]
    visible, in_flight, delayed = (int(attributes.get(n, 0)) for n in QUEUE_DEPTH)
    return QueueStatus(stack.queue.name, visible, in_flight, delayed)


def _topic(stack: Stack, clients: Clients) -> TopicStatus | None:
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
