"""Objects registered from a file look exactly like objects PUT with the same bytes.

The engine (`python -m inframock.engine`, alone, on a free port) gets the same
bytes twice: once by boto3's PutObject, once by `POST /_inframock/objects`
naming a file. HEAD, GET, range GET, checksums, listings and versions must not
tell them apart; the file must never be written through S3; and moto's
internals the registration relies on are checked, so a moto upgrade that
changes them fails here rather than in a load.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import inspect
import os
import sys
import threading
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto.s3.models import FakeKey

from inframock.aws.clients import DUMMY_CREDENTIALS
from inframock.aws.object_files import register_file
from inframock.engine.protocol import FILE_ROOTS_ENV, SECRET_ENV
from inframock.engine.object_files import FileValue, backing_file
from inframock.testing.datafolder import payload
from inframock.testing.harness import engine_process, free_port, standalone_moto

BODY = payload(3 * 1024 * 1024 + 17, seed=14)
SECRET = "the-stack-secret"


@pytest.fixture(scope="module", name="engine")
def engine_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The inframock engine alone, as the embedded road runs it: with a
    secret, serving files from the tests' temporary folders."""
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "MOTO_ACCOUNT_ID": "000000000000",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "INFRAMOCK_LOG": "quiet",
        SECRET_ENV: SECRET,
        FILE_ROOTS_ENV: str(tmp_path_factory.getbasetemp()),
    }
    command = [sys.executable, "-m", "inframock.engine", "127.0.0.1", str(port)]
    with engine_process(command, port, env, what="the engine") as endpoint:
        yield endpoint


@pytest.fixture(scope="module", name="s3")
def s3_fixture(engine: str) -> Any:
    """A plain boto3 S3 client, as a Cellenics service makes one."""
    return boto3.client(
        "s3", endpoint_url=engine, region_name="eu-west-1", **DUMMY_CREDENTIALS
    )


@pytest.fixture(name="bucket")
def bucket_fixture(s3: Any, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test, versioned when the test's name says so."""
    name = request.node.name.replace("_", "-")[:50].strip("-").lower()
    s3.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    if "versioned" in name:
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": "Enabled"}
        )
    return name


def _file(tmp_path: Path, body: bytes = BODY) -> Path:
    path = tmp_path / "r.rds"
    path.write_bytes(body)
    path.chmod(0o444)
    return path


def _register(engine: str, bucket: str, key: str, path: Path) -> Any:
    body = path.read_bytes()
    return register_file(
        engine,
        bucket,
        key,
        path,
        secret=SECRET,
        md5=hashlib.md5(body).hexdigest(),
        crc32=zlib.crc32(body),
    )


def _comparable(response: dict[str, Any]) -> dict[str, Any]:
    """A response without what differs between any two PUTs (request ids, dates,
    version ids), with the body read."""
    ignored = {"ResponseMetadata", "LastModified", "VersionId"}
    found = {k: v for k, v in response.items() if k not in ignored}
    if "Body" in found:
        found["Body"] = found["Body"].read()
    headers = dict(response["ResponseMetadata"]["HTTPHeaders"])
    for header in ("date", "last-modified", "x-amz-version-id", "x-amzn-requestid"):
        headers.pop(header, None)
    # moto keeps the PUT request's own `x-amz-content-sha256` (the signature's
    # payload hash, which boto3 sends over http) as if it were object metadata
    # and echoes it; S3 does not, and no client reads it.
    headers.pop("x-amz-content-sha256", None)
    found.get("Metadata", {}).pop("x-amz-content-sha256", None)
    found["headers"] = headers
    return found


def test_a_registered_object_is_indistinguishable_from_a_put_one(
    engine: str, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="put/r.rds", Body=BODY)
    registered = _register(engine, bucket, "file/r.rds", _file(tmp_path))
    assert registered is not None
    assert registered.size == len(BODY)
    assert registered.etag == f'"{hashlib.md5(BODY).hexdigest()}"'
    for call, extra in [
        (s3.head_object, {}),
        (s3.get_object, {}),
        (s3.get_object, {"Range": "bytes=1000-2000999"}),
        (s3.get_object, {"Range": "bytes=-5"}),
        (s3.get_object, {"ChecksumMode": "ENABLED"}),
        (s3.head_object, {"ChecksumMode": "ENABLED"}),
    ]:
        put = _comparable(call(Bucket=bucket, Key="put/r.rds", **extra))
        got = _comparable(call(Bucket=bucket, Key="file/r.rds", **extra))
        assert sorted(got.pop("headers").items()) == sorted(put.pop("headers").items())
        assert got == put, (call, extra)
    for listing in (
        s3.list_objects_v2(Bucket=bucket)["Contents"],
        s3.list_objects(Bucket=bucket)["Contents"],
        s3.list_object_versions(Bucket=bucket)["Versions"],
    ):
        file, put = (
            {k: v for k, v in entry.items() if k not in ("Key", "LastModified")}
            for entry in listing
        )
        assert file == put and file["Size"] == len(BODY)


def test_a_registered_object_in_a_versioned_bucket_is_a_new_version(
    engine: str, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="e/r.rds", Body=b"older")
    registered = _register(engine, bucket, "e/r.rds", _file(tmp_path))
    assert registered is not None and registered.version_id != "null"
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["IsLatest"], v["Size"]) for v in versions] == [
        (True, len(BODY)),
        (False, 5),
    ]
    head = s3.head_object(Bucket=bucket, Key="e/r.rds")
    assert head["VersionId"] == registered.version_id
    older = [v["VersionId"] for v in versions if not v["IsLatest"]][0]
    assert (
        s3.get_object(Bucket=bucket, Key="e/r.rds", VersionId=older)["Body"].read()
        == b"older"
    )


def test_two_keys_share_one_file_which_s3_never_writes(
    engine: str, s3: Any, bucket: str, tmp_path: Path
) -> None:
    path = _file(tmp_path)
    assert _register(engine, bucket, "source/r.rds", path) is not None
    assert _register(engine, bucket, "matrix/r.rds", path) is not None
    s3.put_object(Bucket=bucket, Key="source/r.rds", Body=b"replaced")
    s3.copy_object(
        Bucket=bucket,
        Key="matrix/r.rds",
        CopySource={"Bucket": bucket, "Key": "matrix/r.rds"},
        Metadata={"changed": "yes"},
        MetadataDirective="REPLACE",
    )
    assert (
        s3.get_object(Bucket=bucket, Key="source/r.rds")["Body"].read() == b"replaced"
    )
    assert s3.get_object(Bucket=bucket, Key="matrix/r.rds")["Body"].read() == BODY
    s3.delete_object(Bucket=bucket, Key="matrix/r.rds")
    assert path.read_bytes() == BODY


def test_the_endpoint_answers_only_inframock_itself(engine: str) -> None:
    request = urllib.request.Request(
        f"{engine}/_inframock/objects", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        with urllib.request.urlopen(request, timeout=10):  # no X-Inframock-Internal
            pass
    assert refused.value.code == 403


def test_a_file_the_engine_cannot_see_or_a_missing_bucket_means_upload_instead(
    engine: str, bucket: str, tmp_path: Path
) -> None:
    path = _file(tmp_path)
    assert (
        register_file(engine, bucket, "k", tmp_path / "absent", secret=SECRET) is None
    )
    assert register_file(engine, "no-such-bucket", "k", path, secret=SECRET) is None
    assert register_file("http://10.1.2.3:1", bucket, "k", path, secret=SECRET) is None
    with standalone_moto() as plain:  # a moto that is not ours answers 500
        assert register_file(plain, bucket, "k", path, secret=SECRET) is None


def test_file_value_copies_before_any_write(tmp_path: Path) -> None:
    path = _file(tmp_path, b"0123456789")
    value = FileValue(path)
    value.seek(3)
    assert value.read(4) == b"3456"
    assert value.backed_by_file
    value.seek(0)
    value.truncate()
    value.write(b"new")
    value.seek(0)
    assert value.read() == b"new" and not value.backed_by_file
    value.close()
    assert path.read_bytes() == b"0123456789"


def test_each_thread_reads_a_file_value_from_its_own_position(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, b"0123456789")
    value = FileValue(path)
    value.seek(6)
    seen: list[bytes] = []
    other = threading.Thread(target=lambda: seen.append(value.read(3)))
    other.start()
    other.join()
    assert seen == [b"012"] and value.read() == b"6789"


def test_file_values_hold_no_descriptor_and_name_their_file(tmp_path: Path) -> None:
    path = _file(tmp_path, b"bytes")
    gc.collect()  # an earlier test's dropped socket closes now, not while counting
    before = len(os.listdir("/proc/self/fd"))
    values = [FileValue(path) for _ in range(50)]
    assert len(os.listdir("/proc/self/fd")) == before
    key = FakeKey("k", b"", "000000000000", "eu-west-1")
    key._value_buffer = values[0]  # pylint: disable=protected-access
    assert backing_file(key) == path
    key.value = b"written"
    assert backing_file(key) is None and path.read_bytes() == b"bytes"


def test_moto_keeps_a_keys_value_where_the_registration_puts_it(tmp_path: Path) -> None:
    """Tripwire: FakeKey's value is `_value_buffer`, its size `contentsize`, a
    given etag `_etag`. When a moto release changes these, engine/object_files.py
    must follow (this test names the moto version that broke it)."""
    version = importlib.metadata.version("moto")
    key = FakeKey("k", b"abc", "000000000000", "eu-west-1", etag="given")
    assert hasattr(key, "_value_buffer") and key.contentsize == 3, version
    assert key.etag == '"given"', version
    path = _file(tmp_path, b"from the file")
    key._value_buffer.close()  # pylint: disable=protected-access
    key._value_buffer = FileValue(path)  # pylint: disable=protected-access
    key.contentsize = path.stat().st_size
    assert key.value == b"from the file" and key.size == 13, version
    key._etag = None  # pylint: disable=protected-access
    assert key.etag == f'"{hashlib.md5(b"from the file").hexdigest()}"', version
    key.value = b"x"
    assert key.value == b"x" and path.read_bytes() == b"from the file", version
    key.dispose()
    setter = inspect.getsource(FakeKey.value.fset)  # type: ignore[attr-defined]
    assert "_value_buffer" in setter and "contentsize" in setter, version
