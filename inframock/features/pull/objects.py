"""An experiment's S3 objects as data folder files, downloaded only when changed.

An object is downloaded when its ETag differs from the last pull's (kept in
the hidden SIDECAR, which the loader ignores) or its local copy was changed; a
`.gz` file gets it through gzip as it arrives (bounded memory), into a hidden
temporary file renamed when complete, so the data folder never holds half a
file.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Callable

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from inframock.core import console
from inframock.core.progress import progress_board
from inframock.data.digests import file_digest, new_hash
from inframock.core.files import atomic_file
from inframock.features.pull.remote import Remote

MB = 1024 * 1024
PROGRESS_ABOVE = 8 * MB
SIDECAR = ".pull.json"
TRANSFER = TransferConfig(multipart_chunksize=8 * MB, max_concurrency=4)
"""Parts must reach the gzip stream in order: the transfer holds those that
arrive early, so few at a time bound the memory."""


@dataclasses.dataclass(frozen=True)
class ObjectMark:
    """What the last pull downloaded of an S3 object, and the file it made of it."""

    etag: str
    size: int
    mtime_ns: int
    digest: str


def pull_object(remote: Remote, source: S3Object, target: Path) -> bool | None:
    """Download `source` into `target` (gzipped if it is a `.gz`) if it changed.

    True if written, False if unchanged, None (with a note) if the remote has no
    such object.
    """
    try:
        head = remote.s3.head_object(Bucket=source.bucket, Key=source.key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey"}:
            raise
        console.warn(f"no {source}: the experiment comes without {target.name}")
        return None
    mark = _read_marks(target.parent).get(target.name)
    if mark is not None and mark.etag == head["ETag"] and _unchanged(target, mark):
        return False
    digest = _download(remote, source, head, target)
    stat = target.stat()
    mark = ObjectMark(head["ETag"], stat.st_size, stat.st_mtime_ns, digest)
    _save_mark(target, mark)
    console.note(f"{source} → {target} ({console.size(head['ContentLength'])})")
    return True


@dataclasses.dataclass(frozen=True)
class S3Object:
    """A bucket and key, printed as an s3:// URL."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _download(
    remote: Remote, source: S3Object, head: dict[str, Any], target: Path
) -> str:
    """Stream the version `head` describes into `target`; the file's content digest.

    A `.gz` target gets the object through gzip as it arrives (bounded memory);
    big files show progress; `target` appears only once complete.
    """
    size = head["ContentLength"]
    extra = {"VersionId": head["VersionId"]} if head.get("VersionId") else {}
    with ExitStack() as stack, atomic_file(target) as raw:
        advance: Callable[[int], None] = _ignore
        if size > PROGRESS_ABOVE:
            board = stack.enter_context(progress_board())
            advance = stack.enter_context(board.track(f"{source}", size, ""))
        digesting = _Digesting(raw)
        with ExitStack() as gzipping:
            sink: _Digesting | gzip.GzipFile = digesting
            if target.suffix == ".gz":
                sink = gzipping.enter_context(
                    gzip.GzipFile(
                        filename="",
                        mode="wb",
                        fileobj=digesting,
                        compresslevel=1,
                        mtime=0,
                    )
                )
            remote.s3.download_fileobj(
                source.bucket,
                source.key,
                _WriteOnly(sink),
                ExtraArgs=extra,
                Callback=advance,
                Config=TRANSFER,
            )
    return digesting.hexdigest()


def _ignore(_: int) -> None:
    pass


def _unchanged(path: Path, mark: ObjectMark) -> bool:
    """True while `path` is the file the last pull wrote (by stat, else by digest)."""
    try:
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) == (mark.size, mark.mtime_ns):
            return True
        return file_digest(path) == mark.digest
    except OSError:
        return False


def _read_marks(folder: Path) -> dict[str, ObjectMark]:
    """The marks of the last pulls, by file name (none if unreadable)."""
    try:
        saved = json.loads((folder / SIDECAR).read_text())
        return {name: ObjectMark(**mark) for name, mark in saved.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _save_mark(target: Path, mark: ObjectMark) -> None:
    marks = _read_marks(target.parent)
    marks[target.name] = mark
    document = {name: dataclasses.asdict(m) for name, m in sorted(marks.items())}
    with atomic_file(target.parent / SIDECAR) as stream:
        stream.write(json.dumps(document, indent=2).encode())


class _WriteOnly:
    """Hides a stream's seek/tell: the transfer must then write its parts in order."""

    def __init__(self, stream: _Digesting | gzip.GzipFile) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        """Write through to the wrapped stream."""
        return self._stream.write(data)


class _Digesting:
    """A write-only file that digests what goes through it (no second read)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._digest = new_hash()

    def write(self, data: bytes) -> int:
        """Digest, then write through."""
        self._digest.update(data)
        return self._stream.write(data)

    def flush(self) -> None:
        """Flush the wrapped stream (gzip calls this on close)."""
        self._stream.flush()

    def hexdigest(self) -> str:
        """The content digest (as for loads) of everything written."""
        return self._digest.hexdigest()
