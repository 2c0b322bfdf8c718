"""What every part of a snapshot shares: the connection to the stack and the files.

A snapshot folder holds one sub-folder per part (tables, objects, queues,
topics, redis). Records are JSON lines, written and read one at a time, so
neither saving nor restoring holds a whole table or queue in memory; binary
values (DynamoDB `B`, SQS binary attributes, Redis dumps) are base64 text.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, TypeVar

import redis

from inframock.output.progress import ProgressBoard
from inframock.aws.clients import Clients
from inframock.errors import InframockError

T = TypeVar("T")


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


def read_lines(path: Path) -> Iterator[Any]:
    """The records of a JSON lines file, one at a time."""
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                yield json.loads(line)


def write_json(path: Path, document: Any) -> None:
    """A small JSON document (a part's index), readable by people."""
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    """A document written by write_json."""
    return json.loads(path.read_text(encoding="utf-8"))


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
