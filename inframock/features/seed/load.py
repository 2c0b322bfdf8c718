"""Carry out a load plan against the stack: DynamoDB batches and S3 streams.

Items go in batches of 25, several batches at once; an `r.rds.gz` (and a
`processed-matrix.r.rds.gz`) is gunzipped once into the object cache
(data/object_cache.py), whose file a local engine then serves as the object
(aws/object_files.py): no bytes cross HTTP, and a restart with the same files
gunzips nothing. A remote engine gets the cached file as a multipart upload.
An experiment without a processed matrix of its own gets its `r.rds` at
`processed-matrix-development` too (the same file; or copied server-side), as
the worker since 2021-04 reads it there. Every failure becomes
a `Problem` naming experiment, file and record; whatever is good still loads,
and nothing half-written is left behind.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from inframock.aws.batch import BATCH_SIZE, UnprocessedItems, write_batch
from inframock.aws.clients import Clients
from inframock.aws.object_files import RegistrationFailed, register_file
from inframock.data.cell_sets import CellSetsError, cell_sets_body
from inframock.data.dataset import Experiment, Plan, Problem, TableFile
from inframock.data.digests import Digests, FileMark, content_digest
from inframock.data.table_file import TableItems
from inframock.data.object_cache import (
    Entry,
    GunzipError,
    InflatesPastLimit,
    ObjectCache,
)
from inframock.model.stack import Stack, Table
from inframock.core.errors import InframockError
from inframock.core import console

from inframock.core.progress import ProgressBoard, progress_board
from inframock.features.seed.reports import ExperimentReport, LoadReport

MB = 1024 * 1024
BATCH_WORKERS = 8
EXPERIMENT_WORKERS = 4
PROGRESS_ABOVE = 8 * MB
"""Compressed size above which an upload shows progress."""
TABLE_PROGRESS_ABOVE = 2 * MB
"""Bytes read (a table file is read twice) above which a table file's load
shows progress: DynamoDB stores a megabyte of nested items in seconds."""
SERVES_AS_MATRIX = (
    "r.rds also serves as the processed matrix (worker ≥ 2021-04 reads {})"
)

BATCH_BYTES = 2 * MB
"""A batch of items holds at most this much (as DynamoDB counts it): with
BATCH_WORKERS batches in flight, what a load of big items holds at once."""
DEFAULT_TABLE_FILE_LIMIT_MB = 500
Labelled = list[tuple[str, dict[str, Any]]]
"""Items ready for PutItem (typed attribute maps), each with a label naming it."""

TRANSFER = TransferConfig(
    multipart_threshold=8 * MB,
    multipart_chunksize=8 * MB,
    max_concurrency=4,
    max_io_queue=8,
)
# Parts read ahead of the uploads: bounds the loader's memory whatever the size
# (about 40 MB above boto3's own; measured, 3 keeps moto's ingest rate).
TRANSFER.max_in_memory_upload_chunks = 3
DEFAULT_CACHE_LIMIT = 20480 * MB
COPY_PARTS = 4
"""Server-side copies go in this many parts. moto reads the whole source for
each UploadPartCopy, so 8 MB parts made a 256 MB copy take 9 s (measured); and
a single CopyObject of a multipart object keeps its composite checksum as a
whole-object one, which clients then fail to verify."""


class Loader:
    """Loads plans into one stack through one set of clients."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        clients: Clients,
        stack: Stack,
        digests: Digests,
        rds_limit: int,
        cache: ObjectCache | None = None,
        secret: str | None = None,
        table_file_limit_mb: int = DEFAULT_TABLE_FILE_LIMIT_MB,
    ) -> None:
        """`cache` defaults to one beside the digests, with the default limit;
        `secret` is the stack's (inframock/core/stack_secret.py): without it no
        file is registered, every object is uploaded."""
        self.clients = clients
        self.stack = stack
        self.digests = digests
        self.rds_limit = rds_limit
        self.table_file_limit_mb = table_file_limit_mb
        self.cache = cache or ObjectCache(digests.path.parent, DEFAULT_CACHE_LIMIT)
        self.used: set[str] = set()
        """Cache entries this load put into the stack."""
        self.incomplete: list[Entry] = []
        """Entries whose MD5 is computed after the load (off its path)."""
        self.secret = secret
        self.register_files = True
        """False once the engine said it cannot serve files (not local)."""
        self._lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(BATCH_WORKERS)
        """Batches submitted and not yet written, for every file at once."""

    def load(self, load_plan: Plan) -> LoadReport:
        """Load every experiment of the plan; report what was loaded and what failed."""
        started = time.monotonic()
        with (
            progress_board() as board,
            ThreadPoolExecutor(BATCH_WORKERS, **console.adopted()) as batches,
            ThreadPoolExecutor(EXPERIMENT_WORKERS, **console.adopted()) as experiments,
        ):
            reports = list(
                experiments.map(
                    lambda e: self._experiment(e, batches, board),
                    load_plan.experiments,
                )
            )
        self.digests.save()
        self.cache.prune(self.used | self.digests.loaded())
        self.cache.save()
        if self.incomplete:
            threading.Thread(
                target=_complete,
                args=(self.cache, list(self.incomplete)),
                name="object-cache-md5",
                daemon=True,
            ).start()
        return LoadReport(
            reports,
            list(load_plan.problems),
            time.monotonic() - started,
            self.stack.data.table_kinds,
        )

    def _experiment(
        self,
        experiment: Experiment,
        batches: ThreadPoolExecutor,
        board: ProgressBoard,
    ) -> ExperimentReport:
        report = ExperimentReport(experiment.id, problems=list(experiment.problems))
        for file in experiment.table_files:
            if self.digests.unchanged(file.path):
                report.unchanged += 1
                continue
            written, problems = self._table_file(experiment.id, file, batches, board)
            report.items[file.kind] = report.items.get(file.kind, 0) + written
            report.problems += problems
        self._objects(experiment, report, board)
        return report  # its problems: listed once, by the summary

    def _objects(
        self,
        experiment: Experiment,
        report: ExperimentReport,
        board: ProgressBoard,
    ) -> None:
        """Load the experiment's S3 files that changed; failures become problems."""
        source, matrix = self.stack.data.source_bucket, self.stack.data.matrix_bucket
        uploads = [
            (experiment.rds, source, self._serves_as_matrix(experiment)),
            (experiment.processed_matrix, matrix, False),
        ]
        for path, bucket, serves_as_matrix in uploads:
            if path is None:
                continue
            if self.digests.unchanged(path):
                report.unchanged += 1
                continue
            copy = matrix if serves_as_matrix else None
            try:
                written = self._rds(experiment.id, path, bucket, board, copy)
            except RdsError as err:
                report.problems.append(Problem(experiment.id, path.name, str(err)))
                continue
            if bucket == source:
                report.rds_bytes = written
                if serves_as_matrix:
                    report.notes.append(SERVES_AS_MATRIX.format(matrix))
            else:
                report.matrix_bytes = written
        if experiment.cell_sets is not None:
            if self.digests.unchanged(experiment.cell_sets):
                report.unchanged += 1
            else:
                try:
                    report.cell_sets_bytes = self._cell_sets(
                        experiment.id, experiment.cell_sets
                    )
                except CellSetsError as err:
                    name = experiment.cell_sets.name
                    report.problems.append(Problem(experiment.id, name, str(err)))

    def _serves_as_matrix(self, experiment: Experiment) -> bool:
        """Whether the source also goes to the matrix bucket (profile rule)."""
        return (
            self.stack.data.source_serves_as_matrix
            and experiment.processed_matrix is None
        )

    def _cell_sets(self, experiment: str, path: Path) -> int:
        """Put the checked cell sets document at `<cell sets bucket>/<experiment>`.

        One PutObject: S3 holds the old document or the new one, never part of it.
        """
        self.digests.forget(path)
        bucket = self.stack.data.cell_sets_bucket
        try:
            with path.open("rb") as stream:
                identity = FileMark.stat_of(stream)
                raw = stream.read()
            body = cell_sets_body(raw)
            self.clients.s3.put_object(
                Bucket=bucket,
                Key=experiment,
                Body=body,
                ContentType="application/json",
            )
        except OSError as err:
            raise CellSetsError(f"cannot read: {err.strerror}") from None
        except (ClientError, BotoCoreError) as err:
            raise CellSetsError(f"upload failed: {err}") from None
        self.digests.record(path, identity, content_digest(raw))
        console.detail(
            f"{experiment}/{path.name} → s3://{bucket}/{experiment} "
            f"({console.size(len(body))})"
        )
        return len(body)

    def _table_file(
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
            if size > self.table_file_limit_mb * MB:
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
            f"{self.table_file_limit_mb}; raise it to load it"
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

    def _rds(
        self,
        experiment: str,
        path: Path,
        bucket: str,
        board: ProgressBoard,
        copy_to: str | None,
    ) -> int:
        """Put the gunzipped `path` at `<bucket>/<experiment>/r.rds` (and, if
        asked, at the same key of `copy_to`).

        The gunzipped bytes come from the object cache (gunzipped into it now
        if need be); a local engine then serves them from the cached file, with
        no upload. Otherwise (another container, a remote endpoint) they are
        uploaded as a multipart upload, and copied server-side. Any failure
        (bad gzip, over the size limit, the endpoint gone) leaves S3 without a
        new object or version, and the file to be loaded again next time.
        """
        self.digests.forget(path)
        key = f"{experiment}/r.rds"
        label = f"{experiment}/{path.name} → s3://{bucket}/{key}"
        try:
            with contextlib.ExitStack() as progress:
                size = path.stat().st_size
                advance: Callable[[int], None] = _no_progress
                if size > PROGRESS_ABOVE:
                    advance = progress.enter_context(board.track(label, size))
                entry = self.cache.entry(path, self.rds_limit, advance)
        except InflatesPastLimit:
            raise RdsError(
                f"inflates past {console.size(self.rds_limit)} "
                "(INFRAMOCK_RDS_LIMIT_MB): refusing what looks like a gzip bomb"
            ) from None
        except GunzipError as err:
            raise RdsError(str(err)) from None
        except OSError as err:
            raise RdsError(f"cannot read: {err.strerror or err}") from None
        with self._lock:
            self.used.add(entry.digest)
            if entry.md5 is None or entry.crc32 is None:
                self.incomplete.append(entry)
        try:
            registered = self._register(entry, bucket, key)
            if not registered:
                self.clients.s3.upload_file(
                    str(entry.path), bucket, key, Config=TRANSFER
                )
            if copy_to is not None and not (
                registered and self._register(entry, copy_to, key)
            ):
                self._copy(bucket, key, copy_to, entry.size)
        except (ClientError, BotoCoreError, OSError, RegistrationFailed) as err:
            raise RdsError(f"upload failed: {err}") from None
        self.digests.record(path, entry.identity, entry.digest)
        how = "cached" if entry.reused else "gunzipped"
        console.detail(f"{label} ({console.size(entry.size)}, {how})")
        return entry.size

    def _register(self, entry: Entry, bucket: str, key: str) -> bool:
        """Have a local engine serve `bucket/key` from the cached file; False
        when it cannot (then the bytes go through HTTP)."""
        if not self.register_files or self.secret is None:
            return False
        registered = register_file(
            self.clients.endpoint,
            bucket,
            key,
            entry.path,
            secret=self.secret,
            md5=entry.md5,
            crc32=entry.crc32,
        )
        if registered is None:
            self.register_files = False  # the same answer for every file
            return False
        return True

    def _copy(self, bucket: str, key: str, copy_to: str, size: int) -> None:
        """Copy `bucket/key` to the same key of `copy_to`, server-side."""
        self.clients.s3.copy(
            {"Bucket": bucket, "Key": key},
            copy_to,
            key,
            Config=TransferConfig(
                multipart_threshold=8 * MB,
                multipart_chunksize=max(8 * MB, -(-size // COPY_PARTS)),
            ),
        )


class RdsError(InframockError):
    """An `r.rds.gz` could not be loaded; the message says why."""


def _complete(cache: ObjectCache, entries: list[Entry]) -> None:
    """Record the MD5 of new cache entries, for the next start (background)."""
    for entry in entries:
        try:
            cache.complete(entry)
        except OSError:
            continue  # pruned meanwhile: the next load rebuilds it


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
