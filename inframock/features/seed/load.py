"""Carry out a load plan against the stack: every experiment, several at once.

Each experiment's table files go to DynamoDB (`tables`: streamed, in
concurrent batches) and its S3 files to S3 (`objects`: through the object
cache, served from its files by a local engine); the two share one pool of
batch writers and one progress board. Every failure becomes a `Problem`
naming experiment, file and record; whatever is good still loads, and nothing
half-written is left behind.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from inframock.aws.clients import Clients
from inframock.core import console
from inframock.core.progress import ProgressBoard, progress_board
from inframock.data.dataset import Experiment, Plan
from inframock.data.digests import Digests
from inframock.data.object_cache import ObjectCache
from inframock.features.seed.objects import ObjectLoader
from inframock.features.seed.reports import ExperimentReport, LoadReport
from inframock.features.seed.tables import DEFAULT_TABLE_FILE_LIMIT_MB, TableLoader
from inframock.model.stack import Stack

MB = 1024 * 1024
BATCH_WORKERS = 8
EXPERIMENT_WORKERS = 4
DEFAULT_CACHE_LIMIT = 20480 * MB


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
        self.stack = stack
        self.digests = digests
        self.tables = TableLoader(
            clients, stack, digests, BATCH_WORKERS, table_file_limit_mb
        )
        self.objects = ObjectLoader(
            clients,
            stack,
            digests,
            rds_limit,
            cache or ObjectCache(digests.path.parent, DEFAULT_CACHE_LIMIT),
            secret,
        )

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
        self.objects.finish()
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
            written, problems = self.tables.load(experiment.id, file, batches, board)
            report.items[file.kind] = report.items.get(file.kind, 0) + written
            report.problems += problems
        self.objects.load(experiment, report, board)
        return report  # its problems: listed once, by the summary
