"""The other environment `make pull` reads: read-only clients, its bucket names.

This is the one place inframock talks to a non-local endpoint, with the user's
own AWS credentials (and AWS_PROFILE), so every remote client is read-only by
construction: a hook refuses any operation but the few reads a pull needs,
before a request is signed. Each local bucket name is the remote's with
`development` (and the account `000000000000`, for the `current` profile's
suffixed buckets) in place of the environment (and its account).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ProfileNotFound

from inframock.aws.clients import DUMMY_CREDENTIALS
from inframock.core.errors import InframockError
from inframock.core.settings import Settings
from inframock.model.stack import ACCOUNT_ID, ENVIRONMENT

LOCAL_BUCKET = re.compile(rf"(.+)-{ENVIRONMENT}(-{ACCOUNT_ID})?")
"""A bucket of a profile: its base, and whether it carries the account."""

DUMMY_ACCESS_KEY = DUMMY_CREDENTIALS["aws_access_key_id"]
READ_OPERATIONS = frozenset(
    {"Query", "GetItem", "HeadObject", "GetObject", "GetCallerIdentity"}
)
"""Everything a pull may ask of the remote side."""


class PullError(InframockError):
    """The pull cannot go on; the message says why and what to do."""


class RemoteWriteRefused(PullError):
    """Something asked the remote side for an operation that is not a read."""


def refuse_writes(model: Any, **_: Any) -> None:
    """botocore `before-call` hook: let only the reads of READ_OPERATIONS through."""
    if model.name not in READ_OPERATIONS:
        raise RemoteWriteRefused(
            f"refusing {model.name} on the remote environment: "
            "`make pull` only reads there"
        )


@dataclasses.dataclass(frozen=True)
class Remote:
    """Read-only clients for another environment's resources."""

    environment: str
    dynamodb: Any
    s3: Any
    where: str
    """The endpoint, or `AWS` for the real thing, for messages."""
    sts: Any = None

    @classmethod
    def connect(cls, settings: Settings, environment: str) -> "Remote":
        """Clients with the user's credentials; the endpoint of INFRAMOCK_PULL_ENDPOINT.

        With no endpoint set this is real AWS: an AWS_ENDPOINT_URL exported by
        `make env` is ignored, so it cannot turn a pull around onto the stack.
        """
        endpoint = settings.pull_endpoint or None
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            ignore_configured_endpoint_urls=True,
        )
        try:
            session = boto3.session.Session(region_name=settings.region)
            clients = [
                session.client(service, endpoint_url=endpoint, config=config)
                for service in ("dynamodb", "s3", "sts")
            ]
            credentials = session.get_credentials()
        except ProfileNotFound as err:
            raise PullError(f"{err} (check AWS_PROFILE)") from None
        if credentials is None:
            raise PullError("no AWS credentials found: set AWS_PROFILE, or log in")
        if endpoint is None and credentials.access_key == DUMMY_ACCESS_KEY:
            raise PullError(
                "this shell has inframock's dummy AWS credentials (from `make env`): "
                "pull from a shell without them, or unset AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        for client in clients:
            client.meta.events.register("before-call.*.*", refuse_writes)
        dynamodb, s3, sts = clients
        return cls(environment, dynamodb, s3, where=endpoint or "AWS", sts=sts)

    def account(self) -> str:
        """The account the credentials belong to (STS GetCallerIdentity)."""
        return str(self.sts.get_caller_identity()["Account"])


def remote_bucket(local: str, environment: str, account: str) -> str:
    """The name `environment` (in `account`) gives the profile's bucket `local`:
    `biomage-source-development` → `biomage-source-staging`,
    `biomage-source-development-000000000000` → `biomage-source-staging-<account>`."""
    found = LOCAL_BUCKET.fullmatch(local)
    if found is None:
        raise PullError(f"bucket {local} is not named <base>-{ENVIRONMENT}[-account]")
    base, suffixed = found.group(1), found.group(2)
    return f"{base}-{environment}" + (f"-{account}" if suffixed else "")


def reason(err: ClientError) -> str:
    """What the remote answered, for a message: `Operation: Code Message`."""
    error = err.response.get("Error", {})
    operation = getattr(err, "operation_name", "")
    return f"{operation}: {error.get('Code', '')} {error.get('Message', '')}".strip()
