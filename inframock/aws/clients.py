"""boto3 clients for the stack's AWS endpoint, and the guard that keeps them local.

Every client inframock makes goes through `Clients`, so every one carries the
same dummy credentials (a developer's real AWS keys are never read, sent or
printed), the same bounded retries, and a header naming what the call is
for (`X-Inframock-Internal: provision`), so the engine's log summarises the
stack's own calls in one line instead of listing each (inframock/engine/oplog.py).
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from inframock.aws import direct_json
from inframock.model.stack import Stack

DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=32,
)


INTERNAL_HEADER = "X-Inframock-Internal"

LOADER = botocore.loaders.create_loader()
"""One botocore loader for every session of this process: each service's
model is read and parsed once, not once per `Clients` (the relay's, status's
and provisioning's would each parse SQS's again: ~35 ms of `make run`)."""


@functools.lru_cache(maxsize=8)
def clients_for(endpoint: str, region: str) -> "Clients":
    """The one set of clients per endpoint and region, kept warm across reloads:
    provisioning and loading."""
    return Clients(endpoint, region, purpose="provision")


class Clients:
    """Lazily made, shared boto3 clients for one endpoint.

    `purpose` (`provision`, `status`, `snapshot`) goes in INTERNAL_HEADER.
    """

    def __init__(self, endpoint: str, region: str, purpose: str = "inframock") -> None:
        self.endpoint = endpoint
        self.region = region
        self.purpose = purpose
        core = botocore.session.get_session()
        core.register_component("data_loader", LOADER)
        self._session = boto3.session.Session(
            region_name=region, botocore_session=core, **DUMMY_CREDENTIALS
        )
        self._session.events.register("before-sign", self._mark)

    def _mark(self, request: Any, **_: Any) -> None:
        request.headers[INTERNAL_HEADER] = self.purpose

    def warm(self, stack: Stack) -> None:
        """Build now the clients provisioning `stack` uses: botocore loads
        each service's model, ~0.1 s. The launcher functions need IAM and Lambda."""
        _ = (self.s3, self.dynamodb, self.sns, self.sqs)
        if stack.functions:
            _ = (self.iam, self.awslambda)

    def _options(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint, "config": RETRIES}

    @functools.cached_property
    def s3(self) -> Any:
        """The S3 client."""
        return self._session.client("s3", **self._options())

    @functools.cached_property
    def dynamodb(self) -> Any:
        """The DynamoDB client, without botocore's own check of each value.

        The loader checks every item as DynamoDB would (data/dataset.py,
        data/typed_json.py) and names the record at fault, and the engine
        refuses what AWS refuses; botocore's walk of the default experiment's
        80,000 plot values before each send was a sixth of its load. Its
        batches' bodies are written by `json.dumps` (aws/direct_json.py)."""
        client = self._session.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            config=RETRIES.merge(Config(parameter_validation=False)),
        )
        direct_json.install(client.meta.events)
        return client

    @functools.cached_property
    def sns(self) -> Any:
        """The SNS client."""
        return self._session.client("sns", **self._options())

    @functools.cached_property
    def sqs(self) -> Any:
        """The SQS client."""
        return self._session.client("sqs", **self._options())

    @functools.cached_property
    def iam(self) -> Any:
        """The IAM client (the launcher functions' role)."""
        return self._session.client("iam", **self._options())

    @functools.cached_property
    def awslambda(self) -> Any:
        """The Lambda client (the pipeline launcher functions)."""
        return self._session.client("lambda", **self._options())

    @functools.cached_property
    def stepfunctions(self) -> Any:
        """The Step Functions client (pipeline executions, for status)."""
        return self._session.client("stepfunctions", **self._options())
