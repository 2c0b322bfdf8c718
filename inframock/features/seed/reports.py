"""What seeding did, as data: per experiment, per load, per seed.

The loader and the seed entry point fill these in; the views render them.
"""

from __future__ import annotations

import dataclasses

from inframock.data.dataset import Problem


@dataclasses.dataclass
class ExperimentReport:
    """What was loaded of one experiment."""

    id: str
    items: dict[str, int] = dataclasses.field(default_factory=dict)
    rds_bytes: int | None = None
    matrix_bytes: int | None = None
    """Gunzipped bytes of its own `processed-matrix.r.rds.gz`."""
    cell_sets_bytes: int | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    """What the load summary says of the experiment besides its counts."""
    unchanged: int = 0
    """Files skipped because they hold what was last loaded from them."""
    problems: list[Problem] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class LoadReport:
    """What a whole load did."""

    experiments: list[ExperimentReport]
    problems: list[Problem]
    seconds: float
    """How long the load took, from plan to the last write."""
    table_kinds: tuple[str, ...] = ()
    """The table kinds of the profile's data rules (columns of the summary)."""

    @property
    def loaded(self) -> list[ExperimentReport]:
        """The experiments something was written of (not those skipped as
        unchanged, nor those whose every file failed)."""
        return [
            e
            for e in self.experiments
            if sum(e.items.values())
            or any(
                n is not None for n in (e.rds_bytes, e.matrix_bytes, e.cell_sets_bytes)
            )
        ]

    @property
    def items(self) -> int:
        """Items written, all tables together."""
        return sum(sum(e.items.values()) for e in self.experiments)

    @property
    def bytes(self) -> int:
        """Bytes written to S3 from files (gunzipped); not server-side copies."""
        return sum(
            (e.rds_bytes or 0) + (e.matrix_bytes or 0) + (e.cell_sets_bytes or 0)
            for e in self.experiments
        )

    @property
    def unchanged(self) -> int:
        """Files skipped because they were loaded already, unchanged since."""
        return sum(e.unchanged for e in self.experiments)

    @property
    def all_problems(self) -> list[Problem]:
        """Problems of the plan and of every experiment."""
        return self.problems + [p for e in self.experiments for p in e.problems]


@dataclasses.dataclass
class SeedResult:
    """What seeding did: resources created, and the load (None if skipped)."""

    created: list[str]
    load: LoadReport | None
    skipped_because: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.load is None or not self.load.all_problems
