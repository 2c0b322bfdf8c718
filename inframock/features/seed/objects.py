"""An experiment's S3 files into the stack: `r.rds` files and cell sets.

An `r.rds.gz` (and a `processed-matrix.r.rds.gz`) is gunzipped once into the
object cache (data/object_cache.py), whose file a local engine then serves as
the object (aws/object_files.py): no bytes cross HTTP, and a restart with the
same files gunzips nothing. A remote engine gets the cached file as a
multipart upload. An experiment without a processed matrix of its own gets its
`r.rds` at the matrix bucket too (the same file; or copied server-side), as the
worker since 2021-04 reads it there. The cell sets document is one PutObject.
The loader (`load`) hands each experiment's S3 files here; its table files go
to `tables`.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Callable

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from inframock.aws.clients import Clients
from inframock.aws.object_files import RegistrationFailed, register_file
from inframock.core import console
from inframock.core.errors import InframockError
from inframock.core.progress import ProgressBoard
from inframock.data.cell_sets import CellSetsError, cell_sets_body
from inframock.data.dataset import Experiment, Problem
from inframock.data.digests import Digests, FileMark, content_digest
from inframock.data.object_cache import (
    Entry,
    GunzipError,
    InflatesPastLimit,
    ObjectCache,
)
from inframock.features.seed.reports import ExperimentReport
from inframock.model.stack import Stack

MB = 1024 * 1024
PROGRESS_ABOVE = 8 * MB
"""Compressed size above which an upload shows progress."""
SERVES_AS_MATRIX = (
    "r.rds also serves as the processed matrix (worker ≥ 2021-04 reads {})"
)
TRANSFER = TransferConfig(
    multipart_threshold=8 * MB,
    multipart_chunksize=8 * MB,
    max_concurrency=4,
    max_io_queue=8,
)
# Parts read ahead of the uploads: bounds the loader's memory whatever the size
# (about 40 MB above boto3's own; measured, 3 keeps moto's ingest rate).
TRANSFER.max_in_memory_upload_chunks = 3
COPY_PARTS = 4
"""Server-side copies go in this many parts. moto reads the whole source for
each UploadPartCopy, so 8 MB parts made a 256 MB copy take 9 s (measured); and
a single CopyObject of a multipart object keeps its composite checksum as a
whole-object one, which clients then fail to verify."""


class ObjectLoader:
    """Loads experiments' S3 files into one stack through one set of clients."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        clients: Clients,
        stack: Stack,
        digests: Digests,
        rds_limit: int,
        cache: ObjectCache,
        secret: str | None,
    ) -> None:
        """Without the stack's `secret` (inframock/core/stack_secret.py) no
        file is registered: every object is uploaded."""
        self.clients = clients
        self.stack = stack
        self.digests = digests
        self.rds_limit = rds_limit
        self.cache = cache
        self.used: set[str] = set()
        """Cache entries this load put into the stack."""
        self.incomplete: list[Entry] = []
        """Entries whose MD5 is computed after the load (off its path)."""
        self.secret = secret
        self.register_files = True
        """False once the engine said it cannot serve files (not local)."""
        self._lock = threading.Lock()

    def load(
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

    def finish(self) -> None:
        """After the load: keep only the cache entries the stack or the digests
        still use, and record the MD5 of new ones in the background."""
        self.cache.prune(self.used | self.digests.loaded())
        self.cache.save()
        if self.incomplete:
            threading.Thread(
                target=_complete,
                args=(self.cache, list(self.incomplete)),
                name="object-cache-md5",
                daemon=True,
            ).start()


class RdsError(InframockError):
    """An `r.rds.gz` could not be loaded; the message says why."""


def _complete(cache: ObjectCache, entries: list[Entry]) -> None:
    """Record the MD5 of new cache entries, for the next start (background)."""
    for entry in entries:
        try:
            cache.complete(entry)
        except OSError:
            continue  # pruned meanwhile: the next load rebuilds it


def _no_progress(_: int) -> None:
    """Small uploads show no progress."""
