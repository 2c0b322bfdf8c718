"""What AWS refuses with a 400, the stack refuses with the same error code.

Real boto3 clients, retries off (a 500 would otherwise be sent 3 more times),
against the session stack: S3 keys over 1024 bytes (`KeyTooLongError`), XML
bodies that are not XML (`MalformedXML`), JSON bodies that are not JSON
objects (`SerializationException`; Lambda's `InvalidRequestContentException`).
The last tests send the same requests to a plain moto server: when one of
them fails, moto refuses that request itself and inframock's patch
(inframock/engine/aws_refusals.py) can go.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
import requests
from botocore.exceptions import ClientError

from inframock.testing.harness import RunningStack, standalone_moto
from tests.helpers import client_sending_once as client

BUCKET = "aws-refusals"
"""A bucket of these tests' own: its 1024-byte keys would be experiment ids
in a bucket of the stack's, widening every status table of the session."""
LONGEST = "k" * 1024
TOO_LONG = "k" * 1025
TOO_LONG_IN_UTF8 = "é" * 513
"""513 characters, 1026 bytes: the limit counts bytes."""


def refusal(call: Callable[[], Any]) -> tuple[int, str]:
    """The HTTP status and error code `call` is refused with."""
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def with_body(api: Any, operation: str, body: bytes) -> Any:
    """`api`, sending `body` instead of what it serializes for `operation`."""

    def replace(request: Any, **_: Any) -> None:
        request.data = body

    api.meta.events.register(f"before-sign.*.{operation}", replace)
    return api


@pytest.fixture(scope="module", name="endpoint")
def endpoint_fixture(shared_stack: RunningStack) -> str:
    """The shared stack's AWS endpoint, with these tests' bucket (deleted after
    the module)."""
    client(shared_stack.endpoint, "s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return shared_stack.endpoint


@pytest.fixture(scope="module", name="plain_moto")
def plain_moto_fixture() -> Iterator[str]:
    """A plain moto server (not inframock's engine) with the same bucket."""
    with standalone_moto() as endpoint:
        client(endpoint, "s3").create_bucket(
            Bucket=BUCKET,
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
        yield endpoint


# Each: (name, what the client does with an S3 client and a too-long key).
LONG_KEY_CALLS: list[tuple[str, Callable[[Any, str], Any]]] = [
    ("put", lambda s3, key: s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")),
    (
        "multipart",
        lambda s3, key: s3.create_multipart_upload(Bucket=BUCKET, Key=key),
    ),
    (
        "copy",
        lambda s3, key: s3.copy_object(
            Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": LONGEST}
        ),
    ),
]


@pytest.mark.parametrize("key", [TOO_LONG, TOO_LONG_IN_UTF8], ids=["ascii", "utf8"])
@pytest.mark.parametrize(
    "call", [c for _, c in LONG_KEY_CALLS], ids=[n for n, _ in LONG_KEY_CALLS]
)
def test_a_key_over_1024_bytes_is_refused(
    endpoint: str, call: Callable[[Any, str], Any], key: str
) -> None:
    s3 = client(endpoint, "s3")
    s3.put_object(Bucket=BUCKET, Key=LONGEST, Body=b"copied")
    assert refusal(lambda: call(s3, key)) == (400, "KeyTooLongError")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=key)


def test_a_key_of_1024_bytes_is_stored(endpoint: str) -> None:
    s3 = client(endpoint, "s3")
    s3.put_object(Bucket=BUCKET, Key=LONGEST, Body=b"longest")
    assert s3.get_object(Bucket=BUCKET, Key=LONGEST)["Body"].read() == b"longest"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="é" * 512)["UploadId"]
    s3.abort_multipart_upload(Bucket=BUCKET, Key="é" * 512, UploadId=upload)


def test_a_presigned_put_or_post_of_a_long_key_is_refused(endpoint: str) -> None:
    s3 = client(endpoint, "s3")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": TOO_LONG}
    )
    put = requests.put(url, data=b"x", timeout=30)
    assert (put.status_code, "<Code>KeyTooLongError</Code>" in put.text) == (400, True)
    post = s3.generate_presigned_post(BUCKET, TOO_LONG)
    form = requests.post(
        post["url"], data=post["fields"], files={"file": b"x"}, timeout=30
    )
    assert form.status_code == 400, form.text
    assert "<Message>Your key is too long</Message>" in form.text
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=TOO_LONG)


GARBAGE_XML = b"<CORSConfiguration><CORSRule>not closed"


def put_cors(s3: Any) -> Any:
    """PutBucketCors with a body that is not XML."""
    rule = {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}
    return with_body(s3, "PutBucketCors", GARBAGE_XML).put_bucket_cors(
        Bucket=BUCKET, CORSConfiguration={"CORSRules": [rule]}
    )


def delete_objects(s3: Any) -> Any:
    """DeleteObjects with a body that is not XML."""
    return with_body(s3, "DeleteObjects", GARBAGE_XML).delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": LONGEST}]}
    )


def complete_upload(s3: Any) -> Any:
    """CompleteMultipartUpload of a real upload with a body that is not XML."""
    key = "aws-refusals/multipart"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etag = s3.upload_part(
        Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"part"
    )["ETag"]
    garbled = with_body(s3, "CompleteMultipartUpload", b"<garbage")
    return garbled.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]},
    )


XML_CALLS = [put_cors, delete_objects, complete_upload]


@pytest.mark.parametrize("call", XML_CALLS, ids=lambda c: c.__name__)
def test_a_body_that_is_not_xml_is_malformed_xml(
    endpoint: str, call: Callable[[Any], Any]
) -> None:
    assert refusal(lambda: call(client(endpoint, "s3"))) == (400, "MalformedXML")


# Each: (service, operation, how the client calls it).
JSON_CALLS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("dynamodb", "GetItem", lambda c: c.get_item(TableName="t", Key={})),
    ("dynamodb", "ListTables", lambda c: c.list_tables()),
    ("sqs", "SendMessage", lambda c: c.send_message(QueueUrl="q", MessageBody="b")),
    ("stepfunctions", "CreateActivity", lambda c: c.create_activity(name="a")),
]
JSON_IDS = [f"{service}-{operation}" for service, operation, _ in JSON_CALLS]
NOT_OBJECTS = [b'{"TableName": "t"', b"[1, 2]", b"not json"]


@pytest.mark.parametrize("body", NOT_OBJECTS, ids=["cut", "list", "text"])
@pytest.mark.parametrize("service,operation,call", JSON_CALLS, ids=JSON_IDS)
def test_a_json_body_that_is_not_an_object_is_a_serialization_exception(
    endpoint: str,
    service: str,
    operation: str,
    call: Callable[[Any], Any],
    body: bytes,
) -> None:
    api = with_body(client(endpoint, service), operation, body)
    assert refusal(lambda: call(api)) == (400, "SerializationException")


def test_the_serialization_exception_has_dynamodbs_shape(endpoint: str) -> None:
    credential = "test/20260101/eu-west-1/dynamodb/aws4_request"
    answer = requests.post(
        endpoint,
        data=b"{not json",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, "
            "SignedHeaders=host, Signature=0",
        },
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/x-amz-json-1.0"
    error = answer.json()
    assert error["__type"] == "com.amazon.coral.service#SerializationException"
    assert error["Message"]


def test_lambda_refuses_a_body_that_is_not_json(endpoint: str) -> None:
    lam = with_body(client(endpoint, "lambda"), "CreateFunction", b"{not json")

    def create() -> Any:
        return lam.create_function(
            FunctionName="f", Role="arn:aws:iam::000000000000:role/r", Code={}
        )

    assert refusal(create) == (400, "InvalidRequestContentException")


def test_well_formed_requests_still_work(endpoint: str) -> None:
    sqs = client(endpoint, "sqs")
    url = sqs.create_queue(QueueName="aws-refusals")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"ok": True}))
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
    assert json.loads(got[0]["Body"]) == {"ok": True}
    s3 = client(endpoint, "s3")
    key = "aws-refusals/kept"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"kept")
    deleted = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key}]})
    assert [d["Key"] for d in deleted["Deleted"]] == [key]


def test_moto_itself_still_stores_a_key_over_1024_bytes(plain_moto: str) -> None:
    """When this fails, moto refuses long keys itself: remove the patch
    `s3-refusals`' `refuse_long_keys` (inframock/engine/patches/at_start.py)."""
    s3 = client(plain_moto, "s3")
    for name, call in LONG_KEY_CALLS:
        s3.put_object(Bucket=BUCKET, Key=LONGEST, Body=b"copied")
        try:
            call(s3, TOO_LONG)
        except ClientError as err:
            pytest.fail(
                f"moto now refuses a long key itself ({name}: {err}); "
                "remove inframock's patch"
            )


@pytest.mark.parametrize("call", XML_CALLS, ids=lambda c: c.__name__)
def test_moto_itself_still_answers_500_to_a_body_that_is_not_xml(
    plain_moto: str, call: Callable[[Any], Any]
) -> None:
    """When this fails, moto refuses malformed XML itself: remove the patch
    `s3-refusals`' `refuse_malformed_xml` (inframock/engine/patches/at_start.py)."""
    status, code = refusal(lambda: call(client(plain_moto, "s3")))
    assert status == 500, (
        f"moto now refuses malformed XML itself ({status} {code}); "
        "remove inframock's patch"
    )


@pytest.mark.parametrize("service,operation,call", JSON_CALLS, ids=JSON_IDS)
def test_moto_itself_still_misreads_a_body_that_is_not_a_json_object(
    plain_moto: str, service: str, operation: str, call: Callable[[Any], Any]
) -> None:
    """When this fails for every operation, moto refuses such bodies
    itself: remove `AwsRefusals` from inframock/engine/aws_refusals.py."""
    api = with_body(client(plain_moto, service), operation, b"[1, 2]")
    try:
        call(api)
    except ClientError as err:
        status = err.response["ResponseMetadata"]["HTTPStatusCode"]
        code = err.response["Error"]["Code"]
        assert code != "SerializationException", (
            "moto now refuses a body that is not a JSON object itself; "
            "remove inframock's patch"
        )
        assert status == 500, (status, code)
