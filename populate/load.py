"""Carry out a load plan against the stack: DynamoDB batches and S3 streams.

Items go in batches of 25, several batches at once; an `r.rds.gz` is gunzipped
while it streams to S3 as a multipart upload, so memory stays bounded whatever
the file size. Every failure becomes a `Problem` naming experiment, file and
record; whatever is good still loads, and nothing half-written is left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Callable

from boto3.dynamodb.types import TypeSerializer
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from populate import console
from populate.aws import Clients
from populate.dataset import Experiment, Plan, Problem, TableFile, valid_items
from populate.stack import Stack, Table

MB = 1024 * 1024
BATCH_SIZE = 25
"""DynamoDB's BatchWriteItem limit."""
BATCH_WORKERS = 8
EXPERIMENT_WORKERS = 4
PROGRESS_ABOVE = 8 * MB
"""Compressed size above which an upload shows progress."""

TRANSFER = TransferConfig(
    multipart_threshold=8 * MB,
    multipart_chunksize=8 * MB,
    max_concurrency=4,
    max_io_queue=8,
)


@dataclasses.dataclass
class ExperimentReport:
    """What was loaded of one experiment."""

    id: str
    items: dict[str, int] = dataclasses.field(default_factory=dict)
    rds_bytes: int | None = None
    problems: list[Problem] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class LoadReport:
    """What a whole load did."""

    experiments: list[ExperimentReport]
    problems: list[Problem]

    @property
    def items(self) -> int:
        """Items written, all tables together."""
        return sum(sum(e.items.values()) for e in self.experiments)

    @property
    def bytes(self) -> int:
        """Gunzipped bytes written to S3."""
        return sum(e.rds_bytes or 0 for e in self.experiments)

    @property
    def all_problems(self) -> list[Problem]:
        """Problems of the plan and of every experiment."""
        return self.problems + [p for e in self.experiments for p in e.problems]


class _CountingReader:
    """A read-only file wrapper that reports how many bytes were read."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        """Read like the wrapped file, then report the amount."""
        data = self._raw.read(size)
        self._on_read(len(data))
        return data


class Loader:
    """Loads plans into one stack through one set of clients."""

    def __init__(self, clients: Clients, stack: Stack) -> None:
        self.clients = clients
        self.stack = stack
        self._serialize = TypeSerializer().serialize

    def load(self, load_plan: Plan) -> LoadReport:
        """Load every experiment of the plan; report what was loaded and what failed."""
        for problem in load_plan.problems:
            console.error(str(problem))
        with (
            console.progress_board() as board,
            ThreadPoolExecutor(BATCH_WORKERS) as batches,
            ThreadPoolExecutor(EXPERIMENT_WORKERS) as experiments,
        ):
            reports = list(
                experiments.map(
                    lambda e: self._experiment(e, batches, board),
                    load_plan.experiments,
                )
            )
        return LoadReport(reports, list(load_plan.problems))

    def _experiment(
        self,
        experiment: Experiment,
        batches: ThreadPoolExecutor,
        board: console.ProgressBoard,
    ) -> ExperimentReport:
        report = ExperimentReport(experiment.id)
        for name in experiment.ignored:
            console.note(
                f"{experiment.id}/{name}: ignored (not a file inframock loads)"
            )
        for file in experiment.table_files:
            try:
                written, problems = self._table_file(experiment.id, file, batches)
            except (BotoCoreError, ClientError) as err:
                written, problems = 0, [
                    Problem(experiment.id, file.path.name, f"write failed: {err}")
                ]
            report.items[file.kind] = report.items.get(file.kind, 0) + written
            report.problems += problems
        if experiment.rds is not None:
            try:
                report.rds_bytes = self._rds(experiment.id, experiment.rds, board)
            except RdsError as err:
                report.problems.append(
                    Problem(experiment.id, experiment.rds.name, str(err))
                )
        for problem in report.problems:
            console.error(str(problem))
        return report

    def _table_file(
        self, experiment: str, file: TableFile, batches: ThreadPoolExecutor
    ) -> tuple[int, list[Problem]]:
        table = self.stack.table(file.kind)
        labelled, problems = valid_items(experiment, file, table)
        chunks = [
            labelled[i : i + BATCH_SIZE] for i in range(0, len(labelled), BATCH_SIZE)
        ]
        results = batches.map(lambda chunk: self._write_batch(table, chunk), chunks)
        written = 0
        for count, reasons in results:
            written += count
            problems += [
                Problem(experiment, file.path.name, reason, label)
                for label, reason in reasons
            ]
        return written, problems

    def _write_batch(
        self, table: Table, chunk: list[tuple[str, dict[str, Any]]]
    ) -> tuple[int, list[tuple[str, str]]]:
        """Write up to 25 items; on a rejected batch, find the culprits one by one."""
        requests = [
            {"PutRequest": {"Item": self._serialize(item)["M"]}} for _, item in chunk
        ]
        try:
            self._batch_write(table.name, requests)
            return len(chunk), []
        except ClientError:
            pass
        written, reasons = 0, []
        for label, item in chunk:
            try:
                self.clients.dynamodb.put_item(
                    TableName=table.name, Item=self._serialize(item)["M"]
                )
                written += 1
            except ClientError as err:
                reasons.append((label, _aws_message(err)))
        return written, reasons

    def _batch_write(self, table_name: str, requests: list[dict[str, Any]]) -> None:
        pending = {table_name: requests}
        while pending:
            response = self.clients.dynamodb.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}

    def _rds(self, experiment: str, path: Path, board: console.ProgressBoard) -> int:
        """Gunzip `path` while streaming it to `<source bucket>/<experiment>/r.rds`."""
        key = f"{experiment}/r.rds"
        size = path.stat().st_size
        label = f"{experiment}/{path.name} → s3://{self.stack.source_bucket}/{key}"
        counter = _ByteCounter()
        try:
            with path.open("rb") as raw, contextlib.ExitStack() as progress:
                source: BinaryIO | _CountingReader = raw
                if size > PROGRESS_ABOVE:
                    source = _CountingReader(
                        raw, progress.enter_context(board.track(label, size))
                    )
                gunzipped = _CountingReader(gzip.GzipFile(fileobj=source), counter)
                self.clients.s3.upload_fileobj(
                    gunzipped, self.stack.source_bucket, key, Config=TRANSFER
                )
        except (gzip.BadGzipFile, zlib.error) as err:
            raise RdsError(f"not a valid gzip file: {err}") from None
        except EOFError:
            raise RdsError(
                "truncated gzip file: it ends before its end marker"
            ) from None
        except (ClientError, BotoCoreError, OSError) as err:
            raise RdsError(f"upload failed: {err}") from None
        console.note(f"{label} ({console.size(counter.total)})")
        return counter.total


class RdsError(Exception):
    """An `r.rds.gz` could not be loaded; the message says why."""


class _ByteCounter:
    def __init__(self) -> None:
        self.total = 0

    def __call__(self, amount: int) -> None:
        self.total += amount


def _aws_message(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Message") or str(err)
