"""What every part of a snapshot shares: the connection to the stack and the files.

A snapshot folder holds one sub-folder per part (tables, objects, queues,
topics, redis). Records are JSON lines, written and read one at a time, so
neither saving nor restoring holds a whole table or queue in memory; binary
values (DynamoDB `B`, SQS binary attributes, Redis dumps) are base64 text.

A snapshot may come from someone else, so every file it names is opened only
through `part_file` (inside the part's folder, a regular file), and a restore
first checks every record (`checked_lines`, `checked_index`, `require`): a
damaged snapshot is refused, naming its file and line, before anything changes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import itertools
import json
import stat
from pathlib import Path, PurePosixPath
from typing import IO, Any, Iterable, Iterator, TypeVar

import redis

from inframock.core.progress import ProgressBoard
from inframock.aws.clients import Clients
from inframock.core.errors import InframockError

T = TypeVar("T")
MAX_INDEX_BYTES = 64 * 1024 * 1024
"""A part's index (its tables, buckets, queues...) is read whole: no bigger."""


class SnapshotError(InframockError):
    """A snapshot cannot be saved or restored; the message says why."""


@dataclasses.dataclass(frozen=True)
class Connection:
    """The stack's public APIs, as a snapshot talks to them (boto3 and RESP)."""

    clients: Clients
    redis_host: str
    redis_port: int
    board: ProgressBoard

    def redis(self, db: int = 0) -> redis.Redis:
        """A client for one Redis database."""
        return redis.Redis(
            host=self.redis_host, port=self.redis_port, db=db, socket_timeout=60
        )


class JsonLines:
    """A file of one JSON document per line, written as records come."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._stream: IO[str] | None = None

    def __enter__(self) -> "JsonLines":
        self._stream = self.path.open("w", encoding="utf-8")
        return self

    def __exit__(self, *_: object) -> None:
        if self._stream is not None:
            self._stream.close()

    def write(self, record: Any) -> None:
        """Append one record."""
        assert self._stream is not None, "use JsonLines as a context manager"
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1


def part_file(folder: Path, name: Any) -> Path:
    """The regular file `name` inside `folder`; SnapshotError for anything else.

    A record may name any path: an absolute one, one with `..`, or a symlink
    leading out are refused, so a restore never reads outside the snapshot.
    """
    shown = f"{folder.name}/{name}"
    if not isinstance(name, str) or not name:
        raise SnapshotError(f"{folder.name}: a record names the file {name!r}")
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or "\\" in name:
        raise SnapshotError(f"{shown}: names a file outside the snapshot folder")
    path = folder.joinpath(*relative.parts)
    try:
        resolved = path.resolve(strict=True)
        mode = resolved.stat().st_mode
    except (OSError, RuntimeError):
        raise SnapshotError(f"{shown}: missing from the snapshot") from None
    if not resolved.is_relative_to(folder.resolve()):
        raise SnapshotError(f"{shown}: a symlink to {resolved}, outside the snapshot")
    if not stat.S_ISREG(mode):
        raise SnapshotError(f"{shown}: not a regular file")
    return resolved


def read_lines(path: Path) -> Iterator[Any]:
    """The records of a JSON lines file, one at a time (checked before a restore)."""
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                yield json.loads(line)


def checked_lines(folder: Path, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each record of JSON lines file `name` (one at a time), with where it is.

    SnapshotError for a line that is not a JSON object, naming file and line.
    """
    path = part_file(folder, name)
    with path.open("rb") as stream:
        for number, line in enumerate(stream, 1):
            where = f"{folder.name}/{name} line {number}"
            if not line.strip():
                continue
            record = _parsed(line, where)
            if not isinstance(record, dict):
                raise SnapshotError(f"{where}: expected a JSON object")
            yield where, record


def require(record: Any, where: str, **fields: type | tuple[type, ...]) -> None:
    """SnapshotError unless `record` is an object with each field of its type."""
    if not isinstance(record, dict):
        raise SnapshotError(f"{where}: expected a JSON object")
    for field, kind in fields.items():
        value = record.get(field)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise SnapshotError(f"{where}: {field!r} is missing or of the wrong type")


def checked_base64(text: Any, where: str) -> None:
    """SnapshotError unless `text` is base64 (as `to_text` writes)."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise SnapshotError(f"{where}: not base64 data") from None


def write_json(path: Path, document: Any) -> None:
    """A small JSON document (a part's index), readable by people."""
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    """A document written by write_json (checked by `checked_index` first)."""
    return json.loads(path.read_text(encoding="utf-8"))


def checked_index(folder: Path, name: str) -> list[Any]:
    """A part's index, a JSON list; SnapshotError naming the file if it is not."""
    path = part_file(folder, name)
    where = f"{folder.name}/{name}"
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise SnapshotError(f"{where}: over {MAX_INDEX_BYTES // 2**20} MB")
    document = _parsed(path.read_bytes(), where)
    if not isinstance(document, list):
        raise SnapshotError(f"{where}: expected a JSON list")
    return document


def _parsed(raw: bytes, where: str) -> Any:
    """The JSON document in `raw`; SnapshotError naming `where` if it is none."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise SnapshotError(f"{where}: not UTF-8 text ({err.reason})") from None
    except (ValueError, RecursionError) as err:
        raise SnapshotError(f"{where}: not JSON ({err})") from None


def to_text(data: bytes) -> str:
    """Binary data as base64 text for a JSON record."""
    return base64.b64encode(data).decode("ascii")


def from_text(text: str) -> bytes:
    """The binary data `to_text` encoded."""
    return base64.b64decode(text)


def batched(records: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` records (the last may be shorter)."""
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
