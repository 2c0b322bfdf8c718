"""The AWS engine's server: moto's own app, warmed up before it takes connections.

moto builds each service's app and loads its botocore model on that service's
first request, about 0.3 s for S3, DynamoDB, SNS and SQS together. Started as
`python -m moto.server`, that cost falls on provisioning, after readiness, on
the critical path of `make run`. Here the same app moto's server runs answers
one read-only request per service first, while the supervisor is still busy
importing boto3, so the stack is ready sooner. Run as
`python -m inframock.engine HOST PORT`.

Where the engine differs from AWS in a way a Cellenics client notices, one
module of this package owns the difference; its changes to moto are applied
from the one registry, `patches`, and its middleware is wired in here.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.test import Client

from inframock.engine import (
    aws_refusals,
    guard,
    oplog,
    patches,
    persistence,
    protocol,
    sqs_concurrency,
    stepfunctions,
    threads,
    unread_output,
)
from inframock.engine.continue_once import SingleContinueHandler
from inframock.engine.health import Health
from inframock.engine.object_files import ObjectFiles

WARM_UP = {
    "s3": ("GET", {}, b""),
    "dynamodb": (
        "POST",
        {
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
        },
        b"{}",
    ),
    "sqs": (
        "POST",
        {
            "X-Amz-Target": "AmazonSQS.ListQueues",
            "Content-Type": "application/x-amz-json-1.0",
        },
        b"{}",
    ),
    "sns": (
        "POST",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"Action=ListTopics&Version=2010-03-31",
    ),
}
"""One request per service that reads and creates nothing."""


def backend_app(service: Any) -> Any:
    """moto's app for `service`, made on its first request; Step Functions
    and Lambda bring this engine's pipeline runs with them."""
    stepfunctions.install_for(service)
    return create_backend_app(service)


def warm_up(app: DomainDispatcherApplication, host: str, region: str) -> None:
    """Send each service its first request through the app, in process."""
    client = Client(app)
    for service, (method, headers, body) in WARM_UP.items():
        credential = f"test/20260101/{region}/{service}/aws4_request"
        client.open(
            "/",
            method=method,
            data=body,
            headers={
                **headers,
                "Host": host,
                "Authorization": (
                    f"AWS4-HMAC-SHA256 Credential={credential}, "
                    "SignedHeaders=host, Signature=0"
                ),
            },
        )


def redis_address(value: str) -> tuple[str, int] | None:
    """`host:port` (INFRAMOCK_ENGINE_REDIS) as an address; None when not set."""
    host, _, port = value.rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


def main(host: str, port: int) -> None:
    """Serve moto's app on host:port, as `moto_server` does, once it is warm.

    In front of it: the health endpoints (`health`), the registration of
    objects whose bytes live in files (`object_files`), who may reach those
    and moto's own API (`guard`), then the log
    (`INFRAMOCK_LOG`: `ops` writes `oplog`'s lines instead of werkzeug's access
    log, `http` keeps the access log, `quiet` writes neither). Its output
    never raises (`unread_output`): a save goes on with the supervisor gone.
    With INFRAMOCK_PERSIST the state is saved however serving ended: SIGTERM
    (the kernel's, when `make run` is killed) inside `serve_forever` or before
    it began, or an error in the server's own shutdown.
    """
    unread_output.install()
    os.environ.setdefault("MOTO_PORT", str(port))
    patches.apply_all(patches.START)
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    kept = os.environ.get(protocol.STATE_ENV, "")
    with_file = os.environ.get(protocol.WITH_ENV, "")
    if kept:  # before the first request: the stack is ready with its state
        try:
            persistence.restore(Path(kept), Path(with_file) if with_file else None)
        except persistence.RestoreError as err:
            persistence.log(f"error: {err}")
            raise SystemExit(1) from None
    app = DomainDispatcherApplication(backend_app)
    warm_up(app, f"{host}:{port}", region)
    redis = redis_address(os.environ.get("INFRAMOCK_ENGINE_REDIS", ""))
    served: Any = ObjectFiles(
        Health(aws_refusals.AwsRefusals(app), redis, region), guard.file_roots()
    )
    served = guard.Guard(served, host, guard.secret())
    handler: type = SingleContinueHandler
    mode = os.environ.get("INFRAMOCK_LOG", "ops")
    if mode != "http":
        handler = oplog.without_access_log(handler)
    if mode == "ops":
        served = oplog.OpLog(served)
    signal.signal(signal.SIGTERM, _stop_serving)
    try:
        threads.serve(host, port, served, handler)
    except KeyboardInterrupt:  # SIGTERM outside `serve_forever`, which catches it
        pass
    finally:  # however serving ended: the state in memory is whole, keep it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stepfunctions.stop()
        if kept:
            _save(kept, with_file)


def _save(kept: str, with_file: str) -> None:
    """Save the state (the port is closed: only running executions change it,
    and their SQS sends wait: a queue changing while pickled fails it)."""
    try:
        with sqs_concurrency.LOCK:
            persistence.save(Path(kept), Path(with_file) if with_file else None)
    except Exception as err:  # pylint: disable=broad-exception-caught
        why = err if isinstance(err, persistence.SaveError) else repr(err)
        persistence.log(
            f"error: the state could not be saved ({why}); the state "
            f"saved before is kept in {kept}"
        )
        raise SystemExit(1) from None


def _stop_serving(_signum: int, _frame: object) -> None:
    """SIGTERM ends `serve_forever` as Ctrl-C does (werkzeug catches
    KeyboardInterrupt and closes the socket), so what follows it runs.

    Once: a second SIGTERM would raise again inside the shutdown the first
    began (werkzeug's `server_close`, `stepfunctions.stop`), skipping the save.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt
