"""`make status`, `make stop` and the "is a stack running?" check of `reload-data`.

Status asks the services themselves (over HTTP and RESP), so it describes a
stack on either road; the state file only adds what the services cannot say
(which process runs them, which versions were started).
"""

from __future__ import annotations

import dataclasses
import signal
import time
import urllib.error
from typing import Any

import psutil
import redis
from botocore.exceptions import BotoCoreError, ClientError
from rich import box
from rich.markup import escape
from rich.table import Table

from populate import console
from populate.aws import Clients
from populate.engines import DIRECT, redis_ping
from populate.settings import Settings
from populate.stack import Stack, biomage_stack
from populate.state import StackRecord

STOP_TIMEOUT = 15.0


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
    """One service as seen from outside."""

    name: str
    up: bool
    address: str
    version: str


def show_status(settings: Settings) -> int:
    """Print services, resources and experiments; 0 only if the stack is healthy."""
    record = StackRecord.read_live(settings.state_dir)
    services = [_aws_status(settings, record), _redis_status(settings)]
    table = Table(box=box.SIMPLE, title="services", title_justify="left")
    for column in ("service", "state", "address", "version"):
        table.add_column(column)
    for service in services:
        state = "[green]up[/]" if service.up else "[red]down[/]"
        table.add_row(
            service.name, state, escape(service.address), escape(service.version)
        )
    console.console.print(table)
    if record is not None:
        console.note(f"started by `make run`, pid {record.pid}")
    if not services[0].up:
        console.error(
            "the AWS endpoint does not answer: start the stack with `make run`"
        )
        return 1
    clients = Clients(settings.aws_endpoint, settings.region)
    stack = biomage_stack(settings)
    try:
        missing = missing_resources(stack, clients)
        experiments = loaded_experiments(stack, clients)
    except (BotoCoreError, ClientError) as err:
        console.error(f"cannot read the stack: {err}")
        return 1
    for name in missing:
        console.error(f"not provisioned: {name}")
    _print_experiments(experiments)
    return 0 if all(s.up for s in services) and not missing else 1


def _aws_status(settings: Settings, record: StackRecord | None) -> ServiceStatus:
    version = record.services.get("aws", "") if record else ""
    return ServiceStatus(
        "aws", stack_is_reachable(settings), settings.aws_endpoint, version or "?"
    )


def _redis_status(settings: Settings) -> ServiceStatus:
    host, port = settings.client_host, settings.redis_port
    version = "?"
    up = redis_ping(host, port)
    if up:
        info = redis.Redis(host=host, port=port, socket_timeout=2).info("server")
        server = "valkey" if "valkey_version" in info else "redis"
        version = f"{server} {info.get('valkey_version', info.get('redis_version'))}"
    return ServiceStatus("redis", up, settings.redis_url, version)


def missing_resources(stack: Stack, clients: Clients) -> list[str]:
    """The resources of `stack` that do not exist on the endpoint."""
    tables = {
        name
        for page in clients.dynamodb.get_paginator("list_tables").paginate()
        for name in page["TableNames"]
    }
    buckets = {b["Name"] for b in clients.s3.list_buckets()["Buckets"]}
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


def loaded_experiments(stack: Stack, clients: Clients) -> dict[str, dict[str, Any]]:
    """Per experiment id: items per table and the size of its r.rds (or None)."""
    ddb = clients.dynamodb
    ids: set[str] = set()
    for table in stack.tables:
        for page in ddb.get_paginator("scan").paginate(
            TableName=table.name, ProjectionExpression="experimentId"
        ):
            ids.update(item["experimentId"]["S"] for item in page["Items"])
    result: dict[str, dict[str, Any]] = {}
    for experiment in sorted(ids):
        counts: dict[str, Any] = {}
        for table in stack.tables:
            counts[table.name] = sum(
                page["Count"]
                for page in ddb.get_paginator("query").paginate(
                    TableName=table.name,
                    KeyConditionExpression="experimentId = :id",
                    ExpressionAttributeValues={":id": {"S": experiment}},
                    Select="COUNT",
                )
            )
        try:
            head = clients.s3.head_object(
                Bucket=stack.source_bucket, Key=f"{experiment}/r.rds"
            )
            counts["r.rds"] = head["ContentLength"]
        except ClientError:
            counts["r.rds"] = None
        result[experiment] = counts
    return result


def _print_experiments(experiments: dict[str, dict[str, Any]]) -> None:
    if not experiments:
        console.note("no experiments loaded")
        return
    columns = list(next(iter(experiments.values())))
    table = Table(box=box.SIMPLE, title="experiments", title_justify="left")
    table.add_column("experiment")
    for column in columns:
        table.add_column(column, justify="right")
    for experiment, counts in experiments.items():
        cells = [
            (
                "-"
                if counts[c] is None
                else (console.size(counts[c]) if c == "r.rds" else str(counts[c]))
            )
            for c in columns
        ]
        table.add_row(escape(experiment), *cells)
    console.console.print(table)
