"""The engine's log: one line per AWS request that says what happened.

werkzeug's access log (`"POST / HTTP/1.1" 200`) names neither the service nor
the operation: almost every AWS call is a POST to `/`. `OpLog` sits in front of
moto's app and writes instead

    sqs SendMessage development-queue.fifo → 200 (3 ms)
    dynamodb GetItem nope → 400 ResourceNotFoundException: Requested ... (2 ms)

(errors in red, with the code and message of the response body). Health
checks and inframock's own calls (those carrying `X-Inframock-Internal`, sent
by `inframock.aws.clients`) are counted and summarised in one line once they
pause, not listed. `INFRAMOCK_LOG` picks the log: `ops` (this), `http`
(werkzeug's access lines, as before) or `quiet` (neither).
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import re
import sys
import threading
import time
import urllib.parse
from typing import Any, Callable, Iterable, Iterator

MODES = ("ops", "http", "quiet")
INTERNAL_HEADER = "X-Inframock-Internal"
"""Set by inframock's own clients to the purpose of the call (`provision`, ...)."""
HEALTH_PATHS = ("/moto-api", "/_inframock/health", "/_localstack/health")
BODY_LIMIT = 1024 * 1024
"""Largest JSON or form body read for the resource name; bigger ones are not."""
ERROR_BODY_LIMIT = 64 * 1024
RED, RESET = "\x1b[31m", "\x1b[0m"
SUMMARY_IDLE = 1.0
"""Seconds without a summarised request after which its summary is written."""
SUMMARY_EVERY = 60.0
"""Longest a summary waits while such requests keep coming."""

TARGET_SERVICES = {
    "DynamoDB": "dynamodb",
    "DynamoDBStreams": "dynamodbstreams",
    "AmazonSQS": "sqs",
    "AWSStepFunctions": "stepfunctions",
}
"""`X-Amz-Target` prefixes of unsigned requests, by service."""

S3_SUBRESOURCES = {
    "acl": "Acl",
    "cors": "Cors",
    "encryption": "Encryption",
    "lifecycle": "LifecycleConfiguration",
    "location": "Location",
    "logging": "Logging",
    "notification": "NotificationConfiguration",
    "ownershipControls": "OwnershipControls",
    "policy": "Policy",
    "publicAccessBlock": "PublicAccessBlock",
    "tagging": "Tagging",
    "versioning": "Versioning",
    "website": "Website",
    "attributes": "Attributes",
    "retention": "Retention",
    "legal-hold": "LegalHold",
}
"""S3 query sub-resources and the word they put in the operation's name."""
VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head"}


@dataclasses.dataclass(frozen=True)
class Call:
    """What a request asked for: `sqs SendMessage development-queue.fifo`."""

    service: str
    operation: str
    resource: str = ""

    def __str__(self) -> str:
        return " ".join(p for p in (self.service, self.operation, self.resource) if p)


def describe(environ: dict[str, Any], body: bytes | None) -> Call:
    """The service, operation and resource of a WSGI request to the engine."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/") or "/"
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), True)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    service = _service(environ, query, target)
    params = {k: v[-1] for k, v in query.items()}
    params.update(_body_params(environ, body))
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif "Action" in params:
        operation = str(params["Action"])
    elif service == "s3":
        operation, resource = s3_operation(method, path, query, environ)
        return Call("s3", operation, resource)
    else:
        operation = f"{method} {path}"
    return Call(service, operation, _resource(service, params, path))


def _service(environ: dict[str, Any], query: dict[str, list[str]], target: str) -> str:
    """From the SigV4 credential scope (header or presigned URL), else the target."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = re.search(r"Credential=([^,\s]+)", auth)
    credential = scope.group(1) if scope else query.get("X-Amz-Credential", [""])[0]
    parts = credential.split("/")
    if len(parts) == 5:
        return parts[3].lower()
    if target:
        prefix = target.split(".", 1)[0].split("_", 1)[0]
        return TARGET_SERVICES.get(prefix, prefix.lower())
    return "s3"  # moto's own default for a request it cannot place


def _body_params(environ: dict[str, Any], body: bytes | None) -> dict[str, Any]:
    if not body:
        return {}
    kind = environ.get("CONTENT_TYPE", "")
    try:
        if "json" in kind:
            parsed = json.loads(body)
            return parsed if isinstance(parsed, dict) else {}
        if kind.startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(body.decode("utf-8"), True)
            return {k: v[-1] for k, v in form.items()}
    except (ValueError, UnicodeDecodeError):
        pass
    return {}


def _resource(service: str, params: dict[str, Any], path: str) -> str:
    """The table, queue, topic or state machine a call is about."""
    for find in (_tables, _named_by_arn, _named):
        if found := find(params):
            return found
    if service == "sqs" and path.strip("/"):
        return path.rstrip("/").rsplit("/", 1)[-1]  # query protocol: the queue's path
    return ""


def _tables(params: dict[str, Any]) -> str:
    """`TableName`, or the tables of a batch (a map) or transaction (a list)."""
    if isinstance(params.get("TableName"), str):
        return str(params["TableName"])
    if isinstance(params.get("RequestItems"), dict):
        return ",".join(sorted(params["RequestItems"]))
    items = params.get("TransactItems")
    if not isinstance(items, list):
        return ""
    tables = {
        op.get("TableName")
        for item in items
        if isinstance(item, dict)
        for op in item.values()
        if isinstance(op, dict)
    }
    return ",".join(sorted(t for t in tables if isinstance(t, str)))


def _named_by_arn(params: dict[str, Any]) -> str:
    """A queue from its URL, a topic or state machine from its ARN."""
    if isinstance(params.get("QueueUrl"), str):
        return str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
    for arn in ("TopicArn", "TargetArn", "stateMachineArn", "executionArn"):
        if isinstance(params.get(arn), str):
            return str(params[arn]).rsplit(":", 1)[-1]
    if isinstance(params.get("SubscriptionArn"), str):
        parts = str(params["SubscriptionArn"]).split(":")
        return parts[5] if len(parts) > 5 else ":".join(parts)
    return ""


def _named(params: dict[str, Any]) -> str:
    """The name a create or lookup passes (CreateQueue, GetQueueUrl, CreateTopic)."""
    for name in ("QueueName", "Name", "name"):
        if isinstance(params.get(name), str):
            return str(params[name])
    return ""


BUCKET_OPERATIONS = {
    "PUT": "CreateBucket",
    "HEAD": "HeadBucket",
    "DELETE": "DeleteBucket",
}
BUCKET_LISTINGS = {"versions": "ListObjectVersions", "uploads": "ListMultipartUploads"}
MULTIPART = {
    "PUT": "UploadPart",
    "GET": "ListParts",
    "DELETE": "AbortMultipartUpload",
}


def s3_operation(
    method: str, path: str, query: dict[str, list[str]], environ: dict[str, Any]
) -> tuple[str, str]:
    """An S3 operation's name and `bucket/key`, from the method and path's shape."""
    virtual = re.match(r"(.+?)\.s3[.-]", environ.get("HTTP_HOST", ""))
    segments = urllib.parse.unquote(path).lstrip("/")
    if virtual:
        segments = f"{virtual.group(1)}/{segments}".rstrip("/")
    bucket, _, key = segments.partition("/")
    resource = f"{bucket}/{key}" if key else bucket
    verb = VERBS.get(method, method.title())
    sub = next((S3_SUBRESOURCES[q] for q in query if q in S3_SUBRESOURCES), "")
    copy = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if method == "OPTIONS":
        operation = "Preflight"
    elif not bucket:
        operation = "ListBuckets" if method == "GET" else f"{verb}Service"
    elif key:
        operation = _s3_object_operation(method, verb, sub, query, copy)
    else:
        operation = _s3_bucket_operation(method, verb, sub, query)
    return operation, resource


def _s3_bucket_operation(
    method: str, verb: str, sub: str, query: dict[str, list[str]]
) -> str:
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if sub:
        return f"{verb}Bucket{sub}"
    if method != "GET":
        return BUCKET_OPERATIONS.get(method, f"{verb}Bucket")
    listing = next((BUCKET_LISTINGS[q] for q in query if q in BUCKET_LISTINGS), "")
    return listing or ("ListObjectsV2" if "list-type" in query else "ListObjects")


def _s3_object_operation(
    method: str, verb: str, sub: str, query: dict[str, list[str]], copy: bool
) -> str:
    if sub:
        return f"{verb}Object{sub}"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        return "CompleteMultipartUpload" if "uploadId" in query else "PostObject"
    if "uploadId" in query:
        if method == "PUT" and copy:
            return "UploadPartCopy"
        return MULTIPART.get(method, f"{verb}Part")
    return "CopyObject" if method == "PUT" and copy else f"{verb}Object"


def error_detail(body: bytes, headers: dict[str, str]) -> str:
    """`Code: message` from an AWS error body, XML or JSON (empty if none)."""
    text = body.decode("utf-8", "replace")
    code = message = ""
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            code = str(parsed.get("__type", parsed.get("code", ""))).rsplit("#", 1)[-1]
            message = str(parsed.get("message", parsed.get("Message", "")))
    else:
        found = re.search(r"<Code>(.*?)</Code>", text, re.S)
        said = re.search(r"<Message>(.*?)</Message>", text, re.S)
        code = found.group(1).strip() if found else ""
        message = said.group(1).strip() if said else ""
    query_error = headers.get("x-amzn-query-error", "")
    if query_error:  # SQS's JSON protocol names the query protocol's code here
        code = query_error.split(";", 1)[0]
    return f"{code}: {message}" if code and message else code or message


def format_line(call: Call, status: int, millis: float, detail: str = "") -> str:
    """The log line of one request; an error's in red."""
    outcome = f"{status} {detail}" if detail else str(status)
    line = f"{call} → {outcome} ({millis:.0f} ms)"
    return f"{RED}{line}{RESET}" if status >= 400 else line


@dataclasses.dataclass
class Summary:
    """Requests of one kind (health checks, `inframock provision`) not yet written."""

    label: str
    first: float
    last: float
    parts: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    statuses: collections.Counter[int] = dataclasses.field(
        default_factory=collections.Counter
    )

    def line(self) -> str:
        """`health checks: 12 requests (/moto-api/ 12) → 200`."""
        count = sum(self.parts.values())
        parts = ", ".join(f"{p} {n}" for p, n in sorted(self.parts.items()))
        statuses = ", ".join(
            f"{s} ×{n}" if len(self.statuses) > 1 else str(s)
            for s, n in sorted(self.statuses.items())
        )
        noun = "request" if count == 1 else "requests"
        return f"{self.label}: {count} {noun} ({parts}) → {statuses}"


class OpLog:
    """WSGI middleware writing one line per request (see the module's docstring)."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        write: Callable[[str], None] | None = None,
        idle: float = SUMMARY_IDLE,
        every: float = SUMMARY_EVERY,
    ) -> None:
        self.app = app
        self.write = write or _print
        self.idle, self.every = idle, every
        self._summaries: dict[str, Summary] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._flush_forever, name="oplog", daemon=True).start()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.monotonic()
        group = _group(environ)
        body = None if group else _buffer_body(environ)
        seen: dict[str, Any] = {}

        def recording(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"] = int(status.split(" ", 1)[0])
            seen["headers"] = {k.lower(): v for k, v in headers}
            return start_response(status, headers, *exc)

        def done(error_body: bytes) -> None:
            status = seen.get("status", 500)
            if group:
                self._count(group, environ, status)
                return
            call = describe(environ, body)
            detail = error_detail(error_body, seen.get("headers", {}))
            if status >= 400 and not detail:
                detail = _reason(status)
            millis = (time.monotonic() - started) * 1000
            self.write(format_line(call, status, millis, detail))

        try:
            result = self.app(environ, recording)
        except Exception:
            seen["status"] = 500  # werkzeug answers 500 and prints the traceback
            done(b"")
            raise
        return _Watched(result, lambda: seen.get("status", 0) >= 400, done)

    def _count(
        self, group: tuple[str, str], environ: dict[str, Any], status: int
    ) -> None:
        label, part = group
        if not part:
            part = _service(environ, {}, environ.get("HTTP_X_AMZ_TARGET", ""))
        now = time.monotonic()
        with self._lock:
            summary = self._summaries.setdefault(label, Summary(label, now, now))
            summary.last = now
            summary.parts[part] += 1
            summary.statuses[status] += 1

    def flush(self, everything: bool = False) -> None:
        """Write the summaries that have paused long enough (or all of them)."""
        now = time.monotonic()
        with self._lock:
            due = [
                s
                for s in self._summaries.values()
                if everything
                or now - s.last >= self.idle
                or now - s.first >= self.every
            ]
            for summary in due:
                del self._summaries[summary.label]
        for summary in due:
            self.write(summary.line())

    def _flush_forever(self) -> None:
        tick = threading.Event()
        while not tick.wait(min(self.idle, 0.25)):
            self.flush()


class _Watched:
    """A response body passed through, calling `done` when the server closes it.

    Error bodies (small) are kept for their code and message.
    """

    def __init__(
        self,
        result: Iterable[bytes],
        is_error: Callable[[], bool],
        done: Callable[[bytes], None],
    ) -> None:
        self.result = result
        self.is_error = is_error
        self.done = done
        self.kept = bytearray()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.result:
            if self.is_error() and len(self.kept) < ERROR_BODY_LIMIT:
                self.kept += chunk[: ERROR_BODY_LIMIT - len(self.kept)]
            yield chunk

    def close(self) -> None:
        """Close the app's body, then log the request."""
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.done(bytes(self.kept))


def _group(environ: dict[str, Any]) -> tuple[str, str] | None:
    """The summary a request counts in, and under what, if it is not listed."""
    path = environ.get("PATH_INFO", "")
    if path.startswith(HEALTH_PATHS):
        return "health checks", path
    purpose = environ.get("HTTP_X_INFRAMOCK_INTERNAL", "")
    if purpose:
        return f"inframock {purpose}", ""
    return None


def _buffer_body(environ: dict[str, Any]) -> bytes | None:
    """A small JSON or form body, read and put back for the app to read again."""
    kind = environ.get("CONTENT_TYPE", "")
    if "json" not in kind and not kind.startswith("application/x-www-form-urlencoded"):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= BODY_LIMIT:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _reason(status: int) -> str:
    from http import HTTPStatus  # pylint: disable=import-outside-toplevel

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


_WRITING = threading.Lock()


def _print(line: str) -> None:
    with _WRITING:  # whole lines, whichever thread writes
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def without_access_log(handler: type) -> type:
    """`handler` (a werkzeug request handler) writing no access log line."""

    def log_request(self: Any, *_: Any) -> None:
        del self

    return type(handler.__name__, (handler,), {"log_request": log_request})
