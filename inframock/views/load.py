"""What provisioning, a load and a snapshot did, as the terminal shows it."""

from __future__ import annotations

import collections
import textwrap
import time
from typing import TYPE_CHECKING

from rich import box
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from inframock.core.console import (
    current,
    detail,
    error,
    note,
    plural,
    show,
    size,
)

if TYPE_CHECKING:
    from inframock.features.seed.reports import ExperimentReport, LoadReport

OBJECT_COLUMNS = (
    ("r.rds", "rds_bytes"),
    ("matrix", "matrix_bytes"),
    ("cell sets", "cell_sets_bytes"),
)
"""The load summary's object columns: header, and the report's byte count."""

RESOURCE_PARTS = {"index", "cors", "lifecycle", "attributes", "subscription"}
"""Kinds of `provision`'s resources that belong to another (its settings,
a topic's subscriptions)."""


def provisioned(created: list[str]) -> None:
    """What provisioning created: on the terminal one line, counting the
    tables, buckets, topics, queues, ... (or naming the few settings that were
    all it made); every resource by name in the log. `provision` names each
    resource `kind name...`."""
    kinds = collections.Counter(name.split(" ", 1)[0] for name in created)
    whole = ", ".join(
        plural(count, kind)
        for kind, count in kinds.items()
        if kind not in RESOURCE_PARTS
    )
    note(
        f"provisioned {plural(len(created), 'resource')}: {whole or ', '.join(created)}"
    )
    if whole:
        detail(f"provisioned: {', '.join(created)}")


def summary(report: LoadReport) -> None:
    """The end of a load: per experiment what went where, then the totals.

    Experiments a reload skipped whole stay out of the table; the count is
    of the experiments something was loaded of.
    """
    loaded = report.loaded
    touched = [e for e in report.experiments if e in loaded or e.problems]
    if touched:
        _load_table(touched, report.table_kinds)
    for experiment in touched:
        for line in experiment.notes:
            detail(f"{experiment.id}: {line}")
    problems = report.all_problems
    line = (
        f"loaded {plural(len(loaded), 'experiment')}: "
        f"{plural(report.items, 'item')}, {size(report.bytes)} into S3, "
        f"{plural(len(problems), 'error')}"
    )
    if report.unchanged:
        line += f"; {plural(report.unchanged, 'unchanged file')} skipped"
    line += f" ({report.seconds:.2f} s)"
    if problems:
        error(line)
        for problem in problems:
            show(f"    [red]•[/] {escape(str(problem))}")
    else:
        note(line)


def _load_table(touched: list[ExperimentReport], kinds: tuple[str, ...]) -> None:
    """Per experiment, items per table and bytes per object kind; only the
    columns some experiment has anything in. Ids are never cut: where the
    table does not fit the terminal, each experiment is its id on a line,
    then its counts, wrapped, below it."""
    columns: dict[str, list[str]] = {
        kind: [str(e.items.get(kind, 0)) for e in touched] for kind in kinds
    }
    for name, attribute in OBJECT_COLUMNS:
        columns[name] = [
            "-" if getattr(e, attribute) is None else size(getattr(e, attribute))
            for e in touched
        ]
    columns["errors"] = [str(len(e.problems)) if e.problems else "" for e in touched]
    shown = {
        name: values
        for name, values in columns.items()
        if any(v not in ("0", "-", "") for v in values)
    }
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    table.add_column("experiment", no_wrap=True)
    for name in shown:
        table.add_column(name, justify="right", no_wrap=True)
    for row, experiment in enumerate(touched):
        table.add_row(escape(experiment.id), *(v[row] for v in shown.values()))
    out = current()
    wide = out.options.update_width(1_000_000)  # measure unclamped
    if Measurement.get(out, wide, table).maximum <= out.width:
        show(table)
        return
    for row, experiment in enumerate(touched):
        counts = ", ".join(f"{name} {v[row]}" for name, v in shown.items() if v[row])
        show(f"  [bold]{escape(experiment.id)}[/]")
        for line in textwrap.wrap(counts, max(20, out.width - 4)):
            show(f"    {escape(line)}")


def snapshot_summary(
    title: str, counts: dict[str, dict[str, int]], stored: int, started: float
) -> None:
    """What a snapshot holds, how big it is on disk and how long it took."""
    parts = ", ".join(
        size(count) if noun == "byte" else plural(count, noun)
        for part in counts.values()
        for noun, count in part.items()
    )
    seconds = time.monotonic() - started
    note(f"{title}: {parts}; {size(stored)} on disk, in {seconds:.1f} s")
