"""What a request to the engine asked for, for its log: `sqs SendMessage queue`.

moto's dispatch already names the operation of every service but S3: each
`BaseResponse` takes it from the `Action` parameter, the `X-Amz-Target`
header or its service's routes (`_get_action`), and parses the parameters
(`params`). The patch `oplog-dispatch` (`noted`) keeps the response moto sets
up on the request's WSGI environ (DISPATCHED), and `describe` reads the
operation and the resource's parameters from there: the log parses no body.

Named here instead, because moto has no name for them:
- S3: moto's S3 dispatch computes only the IAM action a request needs
  (`ListBucket` for ListObjects, ListObjectsV2 and ListObjectVersions alike,
  `GetObject` for HeadObject, `PutObject` for CopyObject and UploadPart), so
  the operation comes from the method, the path and the query
  (`s3_operation`).
- A JSON-protocol request `aws_refusals` answers before moto sees it (a body
  that is not JSON): its `X-Amz-Target` names the operation, as moto would.
- A request moto routes to no service: `METHOD /path`.

The service is the one the client signed for (its credential scope), not
moto's internal name (`states`, not `stepfunctions`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import urllib.parse
from typing import Any, Callable, Mapping

DISPATCHED = "inframock.dispatched"
"""The WSGI environ key of the moto response that dispatched the request."""

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


def describe(environ: dict[str, Any]) -> Call:
    """The service, operation and resource of a WSGI request to the engine."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/") or "/"
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), True)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    service = _service(environ, query, target)
    dispatched = _dispatched(environ.get(DISPATCHED))
    if dispatched is not None:
        operation, params = dispatched
    elif target:
        operation, params = target.rsplit(".", 1)[-1], {}
    elif service == "s3":
        operation, resource = s3_operation(method, path, query, environ)
        return Call("s3", operation, resource)
    else:
        operation, params = f"{method} {path}", {}
    return Call(service, operation, _resource(service, params, path))


def signed_service(environ: dict[str, Any]) -> str:
    """The service a request was signed for (see `describe`)."""
    return _service(environ, {}, environ.get("HTTP_X_AMZ_TARGET", ""))


def noted(setup_class: Callable[..., None]) -> Callable[..., None]:
    """moto's `BaseResponse.setup_class`, keeping the response on the request's
    environ (DISPATCHED) for the log to read once it is answered."""

    @functools.wraps(setup_class)
    def setup_class_noted(self: Any, request: Any, *args: Any, **kwargs: Any) -> None:
        request.environ[DISPATCHED] = self
        setup_class(self, request, *args, **kwargs)

    return setup_class_noted


def _dispatched(response: Any) -> tuple[str, Mapping[str, Any]] | None:
    """The operation moto dispatched and the parameters it read (None if moto
    set up no response, names no operation, or is S3's: see the docstring)."""
    if response is None or getattr(response, "service_name", "") == "s3":
        return None
    try:
        # pylint: disable-next=protected-access
        operation = response._get_action()
    except Exception:  # pylint: disable=broad-exception-caught
        return None  # moto failed before it read the request: the log goes on
    if not operation:
        return None
    params = getattr(response, "params", None)
    if isinstance(params, Mapping):  # parsed by moto (its automated parsing)
        return str(operation), params
    found: dict[str, Any] = {}
    body = getattr(response, "body", None)
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            found.update(parsed)
    found.update(getattr(response, "uri_match", None) or {})  # REST: the path's
    return str(operation), found


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


def _resource(service: str, params: Mapping[str, Any], path: str) -> str:
    """The table, queue, topic or state machine a call is about."""
    for find in (_tables, _named_by_arn, _named):
        if found := find(params):
            return found
    if service == "sqs" and path.strip("/"):
        return path.rstrip("/").rsplit("/", 1)[-1]  # query protocol: the queue's path
    return ""


def _tables(params: Mapping[str, Any]) -> str:
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


def _named_by_arn(params: Mapping[str, Any]) -> str:
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


def _named(params: Mapping[str, Any]) -> str:
    """The name a create or lookup passes (CreateQueue, GetQueueUrl, CreateTopic,
    a Lambda function's path)."""
    for name in ("QueueName", "Name", "name", "FunctionName"):
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
