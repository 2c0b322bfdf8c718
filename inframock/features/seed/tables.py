"""Table files into the stack's DynamoDB tables: streamed, in concurrent batches.

A table file is read twice (data/table_file.py: checked, then written), its
items go in batches of at most 25 items and BATCH_BYTES, several batches at
once for all files together, and a batch DynamoDB refuses is retried item by
item so the problem names the records at fault. The file is remembered as
loaded (digests) only when every item went in. The loader (`load`) hands each
experiment's table files here; its S3 files go to `objects`.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from inframock.aws.batch import BATCH_SIZE, UnprocessedItems, write_batch
from inframock.aws.clients import Clients
from inframock.core import console
from inframock.core.progress import ProgressBoard
from inframock.data.dataset import Problem, TableFile
from inframock.data.digests import Digests
from inframock.data.table_file import TableItems
from inframock.model.stack import Stack, Table

MB = 1024 * 1024
TABLE_PROGRESS_ABOVE = 2 * MB
"""Bytes read (a table file is read twice) above which a table file's load
shows progress: DynamoDB stores a megabyte of nested items in seconds."""
BATCH_BYTES = 256 * 1024
"""A batch of items holds at most this much (as DynamoDB counts it): with
the loader's batch workers in flight, what a load of big items holds at once.
Small enough that a file of big items goes in several batches, so the engine
stores one while the loader types and sends the next (the default
experiment's 23 plots were one batch of 1.3 MB: reading, sending and storing
one after the other)."""
DEFAULT_TABLE_FILE_LIMIT_MB = 500
Labelled = list[tuple[str, dict[str, Any]]]
"""Items ready for PutItem (typed attribute maps), each with a label naming it."""


class TableLoader:
    """Loads table files into one stack's tables, `in_flight` batches at most
    waiting at once (for every file together)."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        clients: Clients,
        stack: Stack,
        digests: Digests,
        in_flight: int,
        limit_mb: int = DEFAULT_TABLE_FILE_LIMIT_MB,
    ) -> None:
        self.clients = clients
        self.stack = stack
        self.digests = digests
        self.limit_mb = limit_mb
        self._in_flight = threading.BoundedSemaphore(in_flight)
        """Batches submitted and not yet written, for every file at once."""

    def load(
        self,
        experiment: str,
        file: TableFile,
        batches: ThreadPoolExecutor,
        board: ProgressBoard,
    ) -> tuple[int, list[Problem]]:
        """Write a file's good items; remember it as loaded only if all were good.

        The file is streamed twice (see data/table_file.py), a big one with
        progress; one over INFRAMOCK_MAX_TABLE_FILE_MB is refused unread.
        """
        self.digests.forget(file.path)
        name = file.path.name
        table = self.stack.table(file.kind)
        assert table is not None, "the profile's data rules name its tables"
        try:
            size = file.path.stat().st_size
            if size > self.limit_mb * MB:
                return 0, [Problem(experiment, name, self._too_big(size))]
            shown = f"{experiment}/{name} → {table.name}"
            with _progress(board, shown, 2 * size) as advance:  # two passes
                items = TableItems(experiment, file.path, table, advance)
                if not items.scan():
                    return 0, items.problems
                written, reasons = self._write_items(table, items, batches)
        except OSError as err:
            return 0, [Problem(experiment, name, f"cannot read: {err.strerror}")]
        except (BotoCoreError, ClientError) as err:
            return 0, [
                *items.problems,
                Problem(experiment, name, f"write failed: {err}"),
            ]
        problems = items.problems + [
            Problem(experiment, name, why, record) for record, why in reasons
        ]
        if not problems:
            assert items.identity is not None, "scanned"
            self.digests.record(file.path, items.identity, items.digest)
        return written, problems

    def _too_big(self, size: int) -> str:
        return (
            f"{size / MB:,.0f} MB is over INFRAMOCK_MAX_TABLE_FILE_MB="
            f"{self.limit_mb}; raise it to load it"
        )

    def _write_items(
        self,
        table: Table,
        items: Iterable[tuple[str, dict[str, Any], int]],
        batches: ThreadPoolExecutor,
    ) -> tuple[int, list[tuple[str, str]]]:
        """Write items in concurrent batches as they come; how many were written,
        and why not. At most BATCH_WORKERS batches wait at once (for all files)."""
        written, reasons = 0, []
        pending: collections.deque[Future[tuple[int, list[tuple[str, str]]]]]
        pending = collections.deque()
        try:
            for chunk in _batches(items):
                self._in_flight.acquire()  # pylint: disable=consider-using-with
                future = batches.submit(self._write_batch, table, chunk)
                future.add_done_callback(lambda _: self._in_flight.release())
                pending.append(future)
                while pending and pending[0].done():
                    count, why = pending.popleft().result()
                    written, reasons = written + count, reasons + why
        finally:
            for future in pending:
                count, why = future.result()
                written, reasons = written + count, reasons + why
        return written, reasons

    def _write_batch(
        self, table: Table, chunk: Labelled
    ) -> tuple[int, list[tuple[str, str]]]:
        """Write up to 25 items; on a rejected batch, find the culprits one by one."""
        requests = [{"PutRequest": {"Item": item}} for _, item in chunk]
        try:
            write_batch(self.clients.dynamodb, table.name, requests)
            return len(chunk), []
        except ClientError as err:
            refused = _aws_message(err)
        except UnprocessedItems as err:
            refused = str(err)
        written, reasons = 0, []
        for label, item in chunk:
            try:
                self.clients.dynamodb.put_item(TableName=table.name, Item=item)
                written += 1
            except ClientError as err:
                reasons.append((label, _aws_message(err)))
        if not reasons:  # each went in alone: say why the batch did not
            console.note(
                f"{table.name}: a batch of {len(chunk)} items was refused "
                f"({refused}); each was then written alone"
            )
        return written, reasons


def _batches(
    items: Iterable[tuple[str, dict[str, Any], int]],
) -> Iterator[Labelled]:
    """Consecutive batches of up to BATCH_SIZE items and BATCH_BYTES."""
    batch: Labelled = []
    size = 0
    for label, item, item_size in items:
        if batch and (len(batch) == BATCH_SIZE or size + item_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((label, item))
        size += item_size
    if batch:
        yield batch


@contextlib.contextmanager
def _progress(
    board: ProgressBoard, label: str, total: int
) -> Iterator[Callable[[int], None]]:
    """Progress of reading a table file's `total` bytes, when they are many
    enough to show."""
    if total <= TABLE_PROGRESS_ABOVE:
        yield _no_progress
        return
    with board.track(label, total, "") as advance:
        yield advance


def _no_progress(_: int) -> None:
    """Small uploads show no progress."""


def _aws_message(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Message") or str(err)
