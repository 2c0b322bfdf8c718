"""Big table files: streamed a record at a time, with progress, under a size limit.

A plots file of realistic plots (150-400 KB of numbers each) loads into a real
stack with every record and shows progress; the reader holds one record at a
time, whatever the file's size (a 50 MB file read whole cost the loader
2.9 GB). The end-to-end load uses 4 MB: moto's DynamoDB, not the loader,
takes minutes to store 50 MB of nested numbers on two busy cores.
"""

from __future__ import annotations

import io
import json
import random
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from inframock.data.json_stream import NotRecords, RecordStream
from inframock.testing.datafolder import MB, experiment_folder, write_json
from inframock.testing.harness import RunningStack
from tests.helpers import items

PLOTS = "plots-tables-development"
READER_PEAK_RECORDS = 8
"""The reader's peak memory, in its largest record's text: one record parsed
plus the read-ahead (parsing the 50 MB file whole took over 25 times the file)."""


def _plot(rng: random.Random, number: int, size: int) -> str:
    """One realistic embedding plot of about `size` bytes of JSON."""
    points = []
    written = 0
    while written < size:
        point = (
            f'{{"x": {rng.uniform(-30, 30):.6f}, "y": {rng.uniform(-30, 30):.6f}, '
            f'"cellId": {rng.randrange(100_000)}, '
            f'"cluster": "Cluster {rng.randrange(20)}"}}'
        )
        points.append(point)
        written += len(point) + 2
    return (
        f'{{"experimentId": "big", "plotUuid": "plot-{number:04d}", '
        '"plotType": "embeddingCategorical", '
        '"config": {"axes": {"xAxisText": "UMAP 1"}, "pointSize": 5}, '
        f'"plotData": [{", ".join(points)}]}}'
    )


def write_plots(path: Path, total: int) -> int:
    """A plots table file of about `total` bytes (the same every time); its records."""
    rng = random.Random(2021)
    count = written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{"records": [\n')
        while written < total:
            plot = ("" if count == 0 else ",\n") + _plot(
                rng, count, rng.randrange(150_000, 400_000)
            )
            out.write(plot)
            written += len(plot)
            count += 1
        out.write("\n]}\n")
    return count


@pytest.mark.slow
@pytest.mark.timeout(900)  # moto stores nested numbers slowly on 2 busy cores
def test_a_big_plots_file_loads_every_record_with_progress(
    make_stack: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    path = experiment_folder(data, "big") / "mock_plots_tables.json"
    count = write_plots(path, 5 * MB // 2)  # over tables.BATCH_BYTES: two batches
    assert path.stat().st_size > 5 * MB // 2 and count > 5
    stack = make_stack(data).wait_ready(timeout=800)
    loaded = items(stack, PLOTS, "big")
    assert len(loaded) == count
    assert {item["plotUuid"] for item in loaded} == {
        f"plot-{i:04d}" for i in range(count)
    }
    assert isinstance(loaded[0]["plotData"][0]["x"], Decimal)
    assert "big/mock_plots_tables.json → plots-tables-development: started" in (
        stack.output
    )


@pytest.mark.slow
def test_the_reader_holds_one_record_whatever_the_file_size(tmp_path: Path) -> None:
    path = tmp_path / "mock_plots_tables.json"
    count = write_plots(path, 16 * MB)  # 2.5 times the bound; parsed whole, 60 times
    largest = 400_000 * 2  # a plot's text is at most about twice its target size
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            read = sum(1 for _ in RecordStream(stream, lambda _: None, numbers=str))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == count > 40
    assert peak < READER_PEAK_RECORDS * largest, f"{peak / MB:.1f} MB"


def test_a_table_file_over_the_limit_is_refused_by_name(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    write_plots(experiment_folder(data, "too-big") / "mock_plots_tables.json", 2 * MB)
    write_json(
        experiment_folder(data, "too-big-ok"),
        "mock_experiment.json",
        {"experimentId": "too-big-ok"},
    )
    result = session_stack.cli(
        "reload-data", BIOMAGE_DATA_PATH=str(data), INFRAMOCK_MAX_TABLE_FILE_MB="1"
    )
    assert result.returncode == 1, result.stdout
    assert (
        "too-big/mock_plots_tables.json: 2 MB is over INFRAMOCK_MAX_TABLE_FILE_MB=1; "
        "raise it to load it"
    ) in result.stdout
    assert items(session_stack, PLOTS, "too-big") == []
    assert len(items(session_stack, "experiments-development", "too-big-ok")) == 1


BROKEN = {
    "missing value": b'"name": }',
    "missing comma": b'"name": "a" "more": 1}',
    "bad string": b'"name": "\\x"}',
    "truncated": b'"name": [1, 2',
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_parse_error_far_into_a_file_is_placed_as_json_places_it(
    case: str,
) -> None:
    """The line and column json gives for the whole file, found a chunk at a time."""
    good = b'{"experimentId": "e", "plotUuid": "p", "data": "' + b"y" * 1000 + b'"}'
    text = b'{"records": [\n' + b",\n".join([good] * 3000)
    text += b',\n  {"experimentId": "e", ' + BROKEN[case] + b"\n]}"
    assert len(text) > 3 * MB
    with pytest.raises(json.JSONDecodeError) as whole:
        json.loads(text)
    expected = (
        f"malformed JSON at line {whole.value.lineno}, column {whole.value.colno}"
    )
    with pytest.raises(NotRecords) as streamed:
        for _ in RecordStream(io.BytesIO(text), lambda _: None):
            pass
    assert str(streamed.value).startswith(expected), str(streamed.value)
