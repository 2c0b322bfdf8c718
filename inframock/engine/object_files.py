"""`POST /_inframock/objects`: an S3 object whose bytes live in a file on this machine.

Putting a gigabyte `r.rds` through HTTP costs seconds on every start, although
the bytes are already in a file the engine can read (the loader's cache under
the state folder). Here the loader names that file instead: the object is
registered in moto's S3 backend in process, through the backend's own
`put_object` (so versioning, notifications and the bucket's encryption are as a
PUT makes them), and its value is then the file itself, read-only, instead of
moto's `SpooledTemporaryFile`: no second copy, and two keys (the source and the
processed matrix) can share one file. Whatever writes to such a value later gets
a private copy first (`FileValue`), so the file is never changed through S3.

The endpoint is for inframock's own loader only: engine/guard.py lets through
only loopback callers with the stack's secret. And only files inside the
folders the engine was told (the stack's object cache, `guard.file_roots`)
are served: the path is resolved, symlinks followed, and anything outside,
`/etc/shadow` or a symlink in the cache pointing out, is refused (403). Where
the file is not visible to the engine (another container, another machine) it
answers 409; on either refusal the loader uploads through S3 as before.

This relies on three internals of moto's `FakeKey` (5.2.5): the value lives in
`_value_buffer` (seek/read/truncate/write/close), the size in `contentsize`,
and a given `etag` is kept as `_etag`. `tests/engine/test_object_files.py` fails when
a moto release changes them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import FakeKey, s3_backends

from inframock.engine.protocol import OBJECTS_ANSWERED_BY, OBJECTS_PATH

ANSWERED_BY = (OBJECTS_ANSWERED_BY, "1")
"""On every answer of this endpoint: the loader tells it from any other server's."""
COPY_CHUNK = 16 * 1024 * 1024
SPOOL_LIMIT = 16 * 1024 * 1024


class _FileView:
    """A read-only view of `path`, opened for each read, with a position per thread.

    So a stack serving thousands of cached objects holds no descriptor for
    any of them (an open file each would meet the usual limit of 1024). And
    the position is each thread's own: moto reads a key's value under the
    key's lock, but computes a missing ETag (seek, then reads) without it;
    on one shared position a GET and that could read each other's bytes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as stream:  # readable now, or a clear error
            self.size = os.fstat(stream.fileno()).st_size
        self._local = threading.local()
        self.closed = False

    @property
    def position(self) -> int:
        """This thread's position."""
        return int(getattr(self._local, "position", 0))

    @position.setter
    def position(self, value: int) -> None:
        self._local.position = value

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Like a file's seek."""
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}
        self.position = max(0, base[whence] + offset)
        return self.position

    def tell(self) -> int:
        """Like a file's tell."""
        return self.position

    def read(self, size: int = -1) -> bytes:
        """Like a file's read."""
        if self.closed:
            raise ValueError("read of closed file")
        with self.path.open("rb") as stream:
            stream.seek(self.position)
            data = stream.read(size)
        self.position += len(data)
        return data

    def close(self) -> None:
        """Nothing stays open; reads are refused from now on."""
        self.closed = True


class FileValue:
    """A FakeKey's value read from a file, copied on the first write.

    moto only seeks, reads, truncates, writes and closes a key's buffer. Reads
    go to the file (read-only, opened per read); a truncate or write first
    copies what the file holds into a private spooled buffer, as moto's own
    is, and works on that from then on.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: Any = _FileView(path)
        self.size: int = self._stream.size
        self._copied = False
        self._lock = threading.Lock()

    @property
    def backed_by_file(self) -> bool:
        """True until something wrote to the value."""
        return not self._copied

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Like a file's seek."""
        return int(self._stream.seek(offset, whence))

    def tell(self) -> int:
        """Like a file's tell."""
        return int(self._stream.tell())

    def read(self, size: int = -1) -> bytes:
        """Like a file's read."""
        return bytes(self._stream.read(size))

    def _copy_on_write(self) -> None:
        with self._lock:
            if self._copied:
                return
            position = self._stream.tell()
            private = (
                tempfile.SpooledTemporaryFile(  # pylint: disable=consider-using-with
                    SPOOL_LIMIT
                )
            )
            self._stream.seek(0)
            shutil.copyfileobj(self._stream, private, COPY_CHUNK)
            private.seek(position)
            self._stream.close()
            self._stream, self._copied = private, True

    def truncate(self, size: int | None = None) -> int:
        """Like a file's truncate, on a private copy."""
        self._copy_on_write()
        return int(self._stream.truncate(size))

    def write(self, data: bytes) -> int:
        """Like a file's write, on a private copy."""
        self._copy_on_write()
        return int(self._stream.write(data))

    def close(self) -> None:
        """Close the file (or the private copy); the file itself stays."""
        self._stream.close()

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return bool(self._stream.closed)


class RegistrationError(Exception):
    """A registration that cannot be done; `status` is the HTTP answer."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def register(
    bucket: str,
    key: str,
    path: Path,
    *,
    md5: str | None = None,
    crc32: int | None = None,
    content_type: str = "binary/octet-stream",
    metadata: dict[str, str] | None = None,
    account_id: str | None = None,
    partition: str = "aws",
) -> FakeKey:
    """Put `bucket/key` into moto's S3 backend with the bytes of `path`.

    The object is what a single PutObject of those bytes from boto3 makes:
    `md5` (hex, computed from the file when not given) is its ETag, `crc32`
    (when given) its CRC32 checksum, as boto3 sends one by default. The
    account is the one moto's server answers for (`MOTO_ACCOUNT_ID`).
    """
    account_id = account_id or os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    try:
        value = FileValue(path)
    except OSError as err:
        raise RegistrationError("409 Conflict", f"{path}: {err.strerror}") from None
    size = value.size
    backend = s3_backends[account_id][partition]
    try:
        fake = backend.put_object(
            bucket_name=bucket,
            key_name=key,
            value=b"",
            etag=md5,
            checksum_value=None if crc32 is None else _base64_crc32(crc32),
        )
    except Exception as err:  # moto's NoSuchBucket and friends
        value.close()
        raise RegistrationError("404 Not Found", f"{bucket}: {err}") from None
    with fake.lock:
        fake._value_buffer.close()  # pylint: disable=protected-access
        fake._value_buffer = value  # pylint: disable=protected-access
        fake.contentsize = size
    if crc32 is not None:
        fake.checksum_algorithm = "CRC32"
    fake.set_metadata({"Content-Type": content_type, **(metadata or {})})
    fake.set_acl(backend.get_bucket(bucket).acl)
    return fake


def backing_file(fake: FakeKey) -> Path | None:
    """The file whose bytes `fake` serves, or None (moto's own buffer, or a
    private copy since a write). Whoever saves the engine's state can keep
    this path instead of the bytes."""
    value = fake._value_buffer  # pylint: disable=protected-access
    if isinstance(value, FileValue) and value.backed_by_file:
        return value.path
    return None


def _base64_crc32(crc32: int) -> str:
    return base64.b64encode(crc32.to_bytes(4, "big")).decode()


class ObjectFiles:
    """WSGI middleware answering OBJECTS_PATH; the rest goes to `app`.

    The body is JSON: `bucket`, `key`, `path`, and optionally `md5`, `crc32`,
    `content_type`, `metadata`. The answer is JSON with the object's `etag`,
    `size` and `version_id`.
    """

    def __init__(
        self, app: Callable[..., Iterable[bytes]], roots: tuple[Path, ...]
    ) -> None:
        self.app = app
        self.roots = roots
        """Resolved folders files may be registered from (none: no file may)."""

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") != OBJECTS_PATH:
            return self.app(environ, start_response)
        status, document = self.answer(environ)
        body = json.dumps(document).encode()
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ANSWERED_BY,
            ],
        )
        return [body]

    def answer(self, environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The status and document for one request."""
        if environ.get("REQUEST_METHOD") != "POST":
            return "405 Method Not Allowed", {"error": "POST only"}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(length))
            path = self.allowed(request["path"])
            fake = register(
                request["bucket"],
                request["key"],
                path,
                md5=request.get("md5"),
                crc32=request.get("crc32"),
                content_type=request.get("content_type", "binary/octet-stream"),
                metadata=request.get("metadata"),
            )
        except (ValueError, KeyError, TypeError) as err:
            return "400 Bad Request", {"error": f"bad request: {err}"}
        except RegistrationError as err:
            return err.status, {"error": str(err)}
        known = fake._etag  # pylint: disable=protected-access
        return "200 OK", {  # an unknown ETag stays unknown: no MD5 of the file here
            "etag": None if known is None else f'"{known}"',
            "size": fake.size,
            "version_id": fake.version_id,
        }

    def allowed(self, named: str) -> Path:
        """`named` resolved (symlinks followed), if inside one of `roots`;
        RegistrationError (403) otherwise."""
        try:
            path = Path(named).resolve()
        except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop
            raise RegistrationError("403 Forbidden", f"{named}: {err}") from None
        if not any(path.is_relative_to(root) for root in self.roots):
            raise RegistrationError(
                "403 Forbidden",
                f"{named}: not inside the folders this stack serves files from "
                f"({os.pathsep.join(map(str, self.roots)) or 'none'})",
            )
        return path
