"""`GET /_inframock/health` and `/_localstack/health`: the stack's health, as JSON.

Wait scripts and test containers written for LocalStack poll
`/_localstack/health` and read `services`; tools of our own want Redis and the
loaded experiments too. Both come from the engine itself, on the AWS port, so
one HTTP request answers without boto3 or a Redis client: the AWS engine is up
by definition when it answers, Redis gets a PING, and the experiments are the
distinct `experimentId`s of one bounded scan of the experiments table, run in
process against moto's app.
"""

from __future__ import annotations

import importlib.metadata
import json
import time
from typing import Any, Callable, Iterable

from werkzeug.test import Client

from inframock.model.stack import ENVIRONMENT
from inframock.core.probes import redis_ping

INFRAMOCK_PATH = "/_inframock/health"
LOCALSTACK_PATH = "/_localstack/health"
AWS_SERVICES = ("dynamodb", "s3", "sns", "sqs", "stepfunctions")
"""What the stack serves, as LocalStack names them."""
EXPERIMENTS_TABLE = f"experiments-{ENVIRONMENT}"
SCAN_LIMIT = 1000
"""Items read at most for the experiment ids: health stays fast on any stack."""


class Health:
    """WSGI middleware answering the two health paths; the rest goes to `app`."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        redis: tuple[str, int] | None,
        region: str,
    ) -> None:
        self.app = app
        self.redis = redis
        self.region = region
        self.started = time.time()
        self.version = importlib.metadata.version("moto")

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in (INFRAMOCK_PATH, LOCALSTACK_PATH):
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        document = self.document()
        if path == LOCALSTACK_PATH:
            status, document = "200 OK", localstack_shape(document)
        else:
            status = "200 OK" if document["healthy"] else "503 Service Unavailable"
        body = json.dumps(document, indent=2).encode() + b"\n"
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    def document(self) -> dict[str, Any]:
        """Each service's state and the experiments the stack holds."""
        redis_up = self.redis is not None and redis_ping(*self.redis)
        services: dict[str, Any] = {
            "aws": {
                "state": "up",
                "engine": f"moto {self.version}",
                "serves": list(AWS_SERVICES),
            },
        }
        if self.redis is not None:
            host, port = self.redis
            services["redis"] = {
                "state": "up" if redis_up else "down",
                "address": f"redis://{host}:{port}",
            }
        return {
            "healthy": all(s["state"] == "up" for s in services.values()),
            "services": services,
            "experiments": self.experiments(),
            "uptime_seconds": round(time.time() - self.started, 1),
        }

    def experiments(self) -> dict[str, Any]:
        """The distinct experiment ids among the first SCAN_LIMIT items."""
        response = Client(self.app).post(
            "/",
            data=json.dumps(
                {
                    "TableName": EXPERIMENTS_TABLE,
                    "ProjectionExpression": "experimentId",
                    "Limit": SCAN_LIMIT,
                }
            ),
            headers={
                "X-Amz-Target": "DynamoDB_20120810.Scan",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": (
                    f"AWS4-HMAC-SHA256 Credential=test/20260101/{self.region}/"
                    "dynamodb/aws4_request, SignedHeaders=host, Signature=0"
                ),
            },
        )
        if response.status_code != 200:
            return {"table": EXPERIMENTS_TABLE, "state": "missing", "ids": []}
        found = json.loads(response.get_data())  # application/x-amz-json-1.0
        ids = {
            item["experimentId"]["S"]
            for item in found.get("Items", [])
            if "S" in item.get("experimentId", {})
        }
        return {
            "table": EXPERIMENTS_TABLE,
            "ids": sorted(ids),
            "complete": "LastEvaluatedKey" not in found,
        }


def localstack_shape(document: dict[str, Any]) -> dict[str, Any]:
    """The document as LocalStack's `/_localstack/health` has it, plus ours.

    `services` maps each AWS service to `running`; Redis, which LocalStack does
    not have, is there too (`running` or `error`), so a script that waits for
    every service waits for it as well.
    """
    services = {name: "running" for name in AWS_SERVICES}
    redis = document["services"].get("redis")
    if redis is not None:
        services["redis"] = "running" if redis["state"] == "up" else "error"
    engine = document["services"]["aws"]["engine"]
    return {
        "services": services,
        "edition": "community",
        "version": engine.split(" ", 1)[1],
        "inframock": document,
    }
