"""`make status`: what the stack's services and resources are like now.

Status asks the services themselves (each service's declaration says how:
HTTP, RESP, a PostgreSQL connection), so it describes a stack on either road;
the state file only adds what the services cannot say (which processes run
them, hence their uptime and memory, and which versions were started). The
resources are read by inframock.features.resources.
"""

from __future__ import annotations

import dataclasses

from botocore.exceptions import BotoCoreError, ClientError

from inframock.aws.clients import Clients
from inframock.core.settings import Settings
from inframock.engine import protocol
from inframock.features.pipeline_runs import PipelineRun, pipeline_runs
from inframock.features.regions import region_warnings
from inframock.features.resources import (
    BucketStatus,
    ExperimentStatus,
    QueueStatus,
    TopicStatus,
    contents,
    missing_resources,
    queue_depth,
    topic_status,
)
from inframock.model.profiles import stack_for
from inframock.core.record import StackRecord
from inframock.services.base import ServiceStatus
from inframock.services.registry import services_for


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
    `stale` says what a killed stack's record left (see roads/found.py).
    """
    record = StackRecord.read_live(settings.state_dir)
    pids = record.pids if record else {}
    versions = record.services if record else {"aws": aws_version}
    asked = [
        (d, d.status(settings, versions.get(d.name, ""), pids.get(d.name)))
        for d in services_for(settings)
        if d.status is not None
    ]
    services = [service for _, service in asked]
    status = StackStatus(False, services, record.pid if record else None)
    status.profile = settings.profile
    status.started_by = record.command if record else ""
    if record is not None and record.persist:
        status.persisted = protocol.describe_restore(
            protocol.last_restore(settings.persist_dir, pids.get("aws")),
            settings.persist_dir,
        )
    if not services[0].up:  # the AWS engine, first in every profile
        status.problem = stale or _not_answering(services[0], record)
        return status
    clients = Clients(settings.aws_endpoint, settings.region, purpose="status")
    stack = stack_for(settings)
    try:
        status.missing = missing_resources(stack, clients)
        status.experiments, status.buckets = contents(stack, clients)
        status.queue = queue_depth(stack, clients)
        status.topic = topic_status(stack, clients)
        status.pipeline_runs = pipeline_runs(clients)
        status.warnings = region_warnings(settings, stack, clients)
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
    for declared, service in asked:
        status.warnings += declared.warnings(settings) if service.up else []
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
