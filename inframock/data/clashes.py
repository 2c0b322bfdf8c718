"""Ids two experiment folders both claim: one item would silently replace the other.

A folder copied as a template keeps the original's ids: its `projectUuid`
makes the reload replace the original's project (whose experiment list then
names only the copy), its `experimentId` the original's experiment. Every
item key of a table keyed by one attribute (experiments, samples, projects)
is compared across the folders, unchanged files included, so a reload that
loads only the copy still finds the clash. Tables with a range key (plots)
are keyed within their experiment and are not read.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Iterator, Sequence

from inframock.data.dataset import Experiment
from inframock.data.json_stream import NotRecords, RecordStream
from inframock.model.stack import Stack


def clash_lines(experiments: Sequence[Experiment], stack: Stack) -> list[str]:
    """One warning per id that files of two or more folders give one item."""
    owners: dict[tuple[str, str, str], list[str]] = collections.defaultdict(list)
    for experiment in experiments:
        for file in experiment.table_files:
            table = stack.table(file.kind)
            if table is None or table.range_key:
                continue
            place = f"{experiment.id}/{file.path.name}"
            for value in _keys(file.path, table.hash_key):
                claims = owners[(table.name, table.hash_key, value)]
                if place not in claims:
                    claims.append(place)
    return [
        f"{table}: {key} {value} is in {' and '.join(places)}: whichever loads "
        "last replaces the other's item. A copied experiment needs ids of its "
        f"own: `make new-experiment FROM={places[0].split('/')[0]}` copies one "
        "with a new experiment id and project uuid"
        for (table, key, value), places in owners.items()
        if len({place.split("/")[0] for place in places}) > 1
    ]


def _keys(path: Path, name: str) -> Iterator[str]:
    """The string keys `name` of the records of a table file, streamed (a table
    file can be hundreds of MB); a file that cannot be read gives what it has
    (the loader reports it)."""
    try:
        with path.open("rb") as stream:
            for record in RecordStream(stream, lambda _: None, numbers=str):
                value = _key(record, name)
                if value is not None:
                    yield value
    except (OSError, NotRecords, ValueError):
        pass  # the loader reports what is wrong with the file


def _key(record: object, name: str) -> str | None:
    """The string key `name` of a record, plain (`"x"`) or typed (`{"S": "x"}`)."""
    value = record.get(name) if isinstance(record, dict) else None
    if isinstance(value, dict):
        value = value.get("S")
    return value if isinstance(value, str) else None
