"""Requests AWS refuses with a 400 are refused here too, not answered 500 or stored.

An SDK retries a 500 several times (and then reports an internal error),
while AWS tells the caller at once what is wrong with its request. moto 5.2.5
differs in three ways a client notices:

- S3 stores keys of any length; AWS refuses a key of more than 1024 bytes
  (UTF-8) with `KeyTooLongError` ("Your key is too long"). Here moto's S3
  backend refuses one in `put_object` (PutObject, presigned PUTs and POSTs,
  CopyObject's destination, the end of a multipart upload) and in
  `create_multipart_upload`, so a client learns it at the start of an upload.
- S3 answers a request whose XML body (PutBucketCors, DeleteObjects,
  CompleteMultipartUpload, tagging, lifecycle, notifications, ...) is not
  well-formed with a 500: the parser's `ExpatError` escapes moto's handlers.
  Here it becomes AWS's `MalformedXML`, which moto already answers for
  well-formed XML it does not understand.
- The JSON protocols (DynamoDB, SQS, Step Functions, ...: an `X-Amz-Target`
  and an `application/x-amz-json-1.x` body) read a body that is not a JSON
  object as no parameters at all (moto's parser keeps the text as a
  `message`), and the operation then fails with a 500, or answers as if the
  caller had asked for nothing. AWS answers `SerializationException`; that
  check runs before moto sees the request (`AwsRefusals`), as Lambda's
  (REST JSON) `InvalidRequestContentException` does for its JSON bodies.
  moto's parser then takes the value that check parsed instead of parsing
  the same body again (`parsed_once`: a DynamoDB load's bodies are megabytes).

tests/stack/test_aws_refusals.py tells when a moto release refuses these itself.
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
import uuid
from typing import Any, Callable, Iterable
from xml.parsers.expat import ExpatError

from moto.s3.exceptions import MalformedXML, S3ClientError
from werkzeug.wsgi import get_input_stream

MAX_KEY_BYTES = 1024
"""The longest S3 key AWS stores, in bytes of its UTF-8 form."""

JSON_PROTOCOL = re.compile(r"application/x-amz-json-1\.[01]\b")
LAMBDA_SCOPE = re.compile(r"Credential=[^/,]*/[^/,]*/[^/,]*/lambda/")
"""A request signed for Lambda: its credential scope names the service."""

StartResponse = Callable[..., Any]


class KeyTooLong(S3ClientError):
    """AWS's answer to a key over MAX_KEY_BYTES."""

    code = "KeyTooLongError"

    def __init__(self) -> None:
        super().__init__("Your key is too long")


def refuse_long_keys(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` of the S3 backend, refusing a `key_name` over MAX_KEY_BYTES."""

    @functools.wraps(method)
    def refusing(self: Any, bucket_name: str, key_name: str, *args: Any, **kw: Any):
        if len(key_name.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise KeyTooLong()
        return method(self, bucket_name, key_name, *args, **kw)

    return refusing


def refuse_malformed_xml(method: Callable[..., Any]) -> Callable[..., Any]:
    """A request handler of moto's S3 that answers `MalformedXML` where the
    XML body it parses is not well-formed (the caller catches S3ClientError)."""

    @functools.wraps(method)
    def refusing(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ExpatError:
            raise MalformedXML() from None

    return refusing


_PARSED = threading.local()
"""The body this thread's request check parsed, and its value (`body`,
`value`), until moto's parser takes it: middleware and app run in the
request's one thread."""


def _json_error(body: bytes, of_an_object: bool) -> str | None:
    """Why `body` is not JSON (or, `of_an_object`, not a JSON object); None
    when it is (or is empty, which moto and the SDKs read as no parameters)."""
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except ValueError as err:  # also a body that is not UTF-8
        return f"the request body is not JSON: {err}"
    if of_an_object and not isinstance(value, dict):
        return f"the request body is a JSON {type(value).__name__}, not an object"
    _PARSED.body, _PARSED.value = body, value
    return None


def parsed_once(moto_parse: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """moto's `_parse_body_as_json`, answering the value the check parsed
    when given the same body (compared whole: the bytes moto reads back are
    a copy), once; any other body is moto's to parse."""

    @functools.wraps(moto_parse)
    def parse(self: Any, body_contents: Any) -> Any:
        body = getattr(_PARSED, "body", None)
        if body is not None and body_contents == body:
            _PARSED.body = None
            return _PARSED.value
        return moto_parse(self, body_contents)

    return parse


class AwsRefusals:
    """WSGI middleware: a JSON body that is not a JSON object is refused as
    AWS refuses it, before moto reads it as no parameters."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Any:
        content_type = environ.get("CONTENT_TYPE", "")
        if environ.get("HTTP_X_AMZ_TARGET") and JSON_PROTOCOL.match(content_type):
            reason = _json_error(_body(environ), of_an_object=True)
            if reason:
                return _serialization_exception(start, content_type, reason)
        elif LAMBDA_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")):
            # an Invoke payload may be any JSON value
            reason = _json_error(_body(environ), of_an_object=False)
            if reason:
                return _invalid_request_content(start, reason)
        try:
            return self.app(environ, start)
        finally:  # one moto did not parse is not kept for the next request
            _PARSED.body = _PARSED.value = None


def _body(environ: dict[str, Any]) -> bytes:
    """The request's body, read, and left for moto to read again."""
    body: bytes = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _serialization_exception(
    start: StartResponse, content_type: str, reason: str
) -> list[bytes]:
    """The JSON protocols' answer, as DynamoDB's: the SDKs read the error
    code from `__type` (the part after `#`)."""
    body = {
        "__type": "com.amazon.coral.service#SerializationException",
        "Message": reason,
    }
    return _answer(start, body, content_type.split(";")[0].strip(), [])


def _invalid_request_content(start: StartResponse, reason: str) -> list[bytes]:
    """Lambda's answer (its model's `InvalidRequestContentException`)."""
    body = {"Type": "User", "message": f"Could not parse request body: {reason}"}
    error_type = [("x-amzn-ErrorType", "InvalidRequestContentException")]
    return _answer(start, body, "application/json", error_type)


def _answer(
    start: StartResponse,
    error: dict[str, str],
    content_type: str,
    headers: list[tuple[str, str]],
) -> list[bytes]:
    """Send a 400 with `error` as its JSON body."""
    body = json.dumps(error).encode()
    start(
        "400 Bad Request",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            *headers,
        ],
    )
    return [body]
