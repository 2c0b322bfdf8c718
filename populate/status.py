"""`make status`, `make stop` and the "is a stack running?" check of `reload-data`.

Status asks the services themselves (over HTTP and RESP), so it describes a
stack on either road; the state file only adds what the services cannot say
(which processes run them, hence their uptime and memory, and which versions
were started). Every listing follows its pagination to the end, so the counts
are exact however big the stack is.
"""

from __future__ import annotations

import collections
import dataclasses
import signal
import time
import urllib.error
from typing import Any

import psutil
import redis
from botocore.exceptions import BotoCoreError, ClientError

from populate import console
from populate.aws import Clients
from populate.engines import DIRECT, redis_ping
from populate.settings import Settings
from populate.stack import Stack, biomage_stack
from populate.state import StackRecord

STOP_TIMEOUT = 15.0
QUEUE_DEPTH = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
"""Waiting, in flight (received, not yet deleted), and delayed messages."""


def stack_is_reachable(settings: Settings) -> bool:
    """True when something answers HTTP at the AWS endpoint."""
    try:
        with DIRECT.open(settings.aws_endpoint, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an error status is still an answer
    except OSError:
        return False


def stop_stack(settings: Settings) -> int:
    """Stop the stack recorded in the state folder; 0 also when none runs."""
    record = StackRecord.read_live(settings.state_dir)
    if record is None:
        console.note(f"no inframock stack is running (nothing in {settings.state_dir})")
        return 0
    console.note(f"stopping the stack (pid {record.pid})")
    try:
        process = psutil.Process(record.pid)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        # A zombie has finished: its parent (a shell, make) just has not reaped it.
        while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() > deadline:
                console.error(
                    f"pid {record.pid} did not stop within {STOP_TIMEOUT:.0f} s"
                )
                return 1
            time.sleep(0.05)
    except psutil.NoSuchProcess:
        pass
    console.note("stopped")
    return 0


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


def show_status(settings: Settings, as_json: bool = False) -> int:
    """Print the stack's status (as a table, or JSON); 0 only if it is healthy."""
    status = collect_status(settings)
    if as_json:
        console.json_document(dataclasses.asdict(status))
    else:
        console.status_report(status)
    return 0 if status.healthy else 1


def collect_status(settings: Settings) -> StackStatus:
    """Ask every service and resource of the stack how it is."""
    record = StackRecord.read_live(settings.state_dir)
    pids = record.pids if record else {}
    services = [
        _aws_status(settings, record, pids.get("aws")),
        _redis_status(settings, pids.get("redis")),
    ]
    status = StackStatus(False, services, record.pid if record else None)
    if not services[0].up:
        status.problem = (
            "the AWS endpoint does not answer: start the stack with `make run`"
        )
        return status
    clients = Clients(settings.aws_endpoint, settings.region)
    stack = biomage_stack(settings)
    try:
        status.missing = missing_resources(stack, clients)
        status.experiments, status.buckets = _contents(stack, clients)
        status.queue = _queue(stack, clients)
        status.topic = _topic(stack, clients)
    except (BotoCoreError, ClientError) as err:
        status.problem = f"cannot read the stack: {err}"
    status.healthy = (
        all(s.up for s in services) and not status.missing and not status.problem
    )
    return status


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
    settings: Settings, record: StackRecord | None, pid: int | None
) -> ServiceStatus:
    version = record.services.get("aws", "") if record else ""
    up = stack_is_reachable(settings)
    service = ServiceStatus("aws", up, settings.aws_endpoint, version or "?")
    return _process(service, pid) if up else service


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
    """The resources of `stack` that do not exist on the endpoint."""
    tables = {
        name
        for page in clients.dynamodb.get_paginator("list_tables").paginate()
        for name in page["TableNames"]
    }
    buckets = {
        bucket["Name"]
        for page in clients.s3.get_paginator("list_buckets").paginate()
        for bucket in page["Buckets"]
    }
    missing = [f"table {t.name}" for t in stack.tables if t.name not in tables]
    missing += [f"bucket {b.name}" for b in stack.buckets if b.name not in buckets]
    try:
        clients.sns.get_topic_attributes(TopicArn=stack.topic_arn)
    except clients.sns.exceptions.NotFoundException:
        missing.append(f"topic {stack.topic.name}")
    try:
        clients.sqs.get_queue_url(QueueName=stack.queue.name)
    except clients.sqs.exceptions.QueueDoesNotExist:
        missing.append(f"queue {stack.queue.name}")
    return missing


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
    ids = sorted(set().union(*items.values()))
    experiments = {
        i: ExperimentStatus({t: c[i] for t, c in items.items()}, {}) for i in ids
    }
    buckets = {}
    for bucket in stack.buckets:
        try:
            usage, by_prefix = _bucket_usage(clients, bucket.name)
        except clients.s3.exceptions.NoSuchBucket:
            continue  # reported as missing
        versioning = clients.s3.get_bucket_versioning(Bucket=bucket.name)
        buckets[bucket.name] = BucketStatus(versioning.get("Status", "off"), usage)
        for experiment, status in experiments.items():
            status.objects[bucket.name] = by_prefix.get(experiment, Usage())
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
        try:
            named = _scan(clients, stack.table(kind).name, f"experimentId, {attribute}")
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
    subscriptions = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
        TopicArn=stack.topic_arn
    ):
        for sub in page["Subscriptions"]:
            attributes = sns.get_subscription_attributes(
                SubscriptionArn=sub["SubscriptionArn"]
            )["Attributes"]
            subscriptions.append(
                SubscriptionStatus(
                    sub["Protocol"],
                    sub["Endpoint"],
                    attributes.get("FilterPolicy"),
                    attributes.get("PendingConfirmation") == "false",
                )
            )
    return TopicStatus(stack.topic.name, stack.topic_arn, subscriptions)
