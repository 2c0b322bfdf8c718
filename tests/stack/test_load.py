"""Loading data folders into a running stack: what lands, and what bad input does."""

from __future__ import annotations

import re
import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers import GOOD, NUMBERS, PLOT_BYTES, PLOTS, RDS_BYTES
from tests.helpers import SOURCE, items, load, rds_versions
from inframock.testing.harness import RunningStack
from inframock.testing.datafolder import (
    MB,
    experiment_folder,
    payload,
    plot_record,
    write_json,
    write_rds,
)


def test_items_are_exact_including_numbers(session_stack: RunningStack) -> None:
    (experiment,) = items(session_stack, "experiments-development", GOOD)
    assert experiment["experimentName"] == "good"
    assert experiment["cellIds"] == [1, 2, 3]
    for name, literal in NUMBERS.items():
        assert experiment["meta"][name] == Decimal(literal)
    (sample,) = items(session_stack, "samples-development", GOOD)
    assert sample == {"experimentId": GOOD, "samples": {}}


def test_plots_file_is_loaded_whole_across_result_pages(
    session_stack: RunningStack,
) -> None:
    ddb = session_stack.client("dynamodb")
    first = ddb.query(
        TableName="plots-tables-development",
        KeyConditionExpression="experimentId = :id",
        ExpressionAttributeValues={":id": {"S": GOOD}},
    )
    assert "LastEvaluatedKey" in first, "the fixture should need two pages"
    plots = items(session_stack, "plots-tables-development", GOOD)
    assert sorted(p["plotUuid"] for p in plots) == [f"plot-{i}" for i in range(PLOTS)]
    assert all(len(p["plotData"]) == PLOT_BYTES for p in plots)


def test_rds_is_stored_gunzipped_under_the_experiment(
    session_stack: RunningStack,
) -> None:
    body = session_stack.client("s3").get_object(Bucket=SOURCE, Key=f"{GOOD}/r.rds")
    assert body["Body"].read() == payload(RDS_BYTES)
    # Nothing else of the experiment goes to S3 (other tests add experiments of
    # their own to this bucket, so only this one's keys are compared).
    listing = session_stack.client("s3").list_objects_v2(Bucket=SOURCE)
    keys = [o["Key"] for o in listing["Contents"]]
    assert [k for k in keys if k.startswith(f"{GOOD}/")] == [f"{GOOD}/r.rds"]
    assert not [k for k in keys if k.endswith((".json", ".txt", ".DS_Store"))]


def test_other_files_are_noted_and_hidden_files_are_silent(
    session_stack: RunningStack,
) -> None:
    assert f"{GOOD}/notes.txt: ignored" in session_stack.output
    assert ".DS_Store" not in session_stack.output
    assert "loaded 1 experiment: 8 items, 21.0 MB into S3, 0 errors" in (
        session_stack.output
    )


def test_reload_keeps_generated_data_and_updates_edited_items(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    s3 = session_stack.client("s3")
    ddb = session_stack.client("dynamodb")
    s3.put_object(Bucket="worker-results-development", Key="generated", Body=b"1")
    ddb.put_item(
        TableName="plots-tables-development",
        Item={"experimentId": {"S": "reload"}, "plotUuid": {"S": "generated"}},
    )
    data = tmp_path / "data"
    folder = experiment_folder(data, "reload")
    write_json(folder, "mock_experiment.json", {"experimentId": "reload", "v": 1})
    assert load(session_stack, data).returncode == 0
    write_json(folder, "mock_experiment.json", {"experimentId": "reload", "v": 2})
    result = load(session_stack, data)
    assert result.returncode == 0, result.stdout
    assert items(session_stack, "experiments-development", "reload")[0]["v"] == 2
    assert s3.get_object(Bucket="worker-results-development", Key="generated")
    plots = items(session_stack, "plots-tables-development", "reload")
    assert [p["plotUuid"] for p in plots] == ["generated"]


def test_status_lists_services_and_what_each_experiment_has(
    session_stack: RunningStack,
) -> None:
    # The tables (issue 21), wide enough for every experiment of the session.
    result = session_stack.cli("status", "--verbose", COLUMNS="400")
    assert result.returncode == 0, result.stdout
    assert "moto 5.2.5" in result.stdout
    # The Redis row's version column names the server and its version.
    assert re.search(r"\b(valkey|redis) \d+\.\d+", result.stdout), result.stdout
    line = next(l for l in result.stdout.splitlines() if l.strip().startswith(GOOD))
    assert line.split()[1:5] == ["1", "1", "0", str(PLOTS)]
    assert "21.0 MB" in line


def test_loading_is_skipped_outside_development(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "staging-only")
    write_json(folder, "mock_experiment.json", {"experimentId": "staging-only"})
    result = session_stack.cli(
        "reload-data", BIOMAGE_DATA_PATH=str(data), CLUSTER_ENV="staging"
    )
    assert result.returncode == 0
    assert "CLUSTER_ENV is 'staging'" in result.stdout
    assert items(session_stack, "experiments-development", "staging-only") == []


BAD_CASES = {
    "malformed-json": (
        "mock_experiment.json",
        b'{"experimentId": "x",\n  "name": }',
        "malformed JSON at line 2, column 11",
    ),
    "missing-key": (
        "mock_plots_tables.json",
        b'{"records": [{"experimentId": "missing-key"}]}',
        "record 0: missing key attribute 'plotUuid'",
    ),
    "not-utf8": (
        "mock_samples.json",
        b'{"experimentId": "not-utf8", "name": "\xff"}',
        "not UTF-8 text",
    ),
    "records-not-list": (
        "mock_plots_tables.json",
        b'{"records": {"experimentId": "records-not-list"}}',
        '"records" must be a list, found an object',
    ),
    "not-an-object": ("mock_samples.json", b"[1, 2]", "expected a JSON object"),
    "nan": (
        "mock_experiment.json",
        b'{"experimentId": "nan", "value": NaN}',
        "NaN is not a number DynamoDB can store",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_json_is_named_and_the_rest_still_loads(
    session_stack: RunningStack, tmp_path: Path, case: str
) -> None:
    name, content, message = BAD_CASES[case]
    data = tmp_path / "data"
    (experiment_folder(data, case) / name).write_bytes(content)
    good = experiment_folder(data, f"{case}-ok")
    write_json(good, "mock_experiment.json", {"experimentId": f"{case}-ok"})
    result = load(session_stack, data)
    assert result.returncode == 1, result.stdout
    assert f"{case}/{name}:" in result.stdout
    assert message in result.stdout
    assert len(items(session_stack, "experiments-development", f"{case}-ok")) == 1
    for table in ("experiments", "samples", "plots-tables"):
        assert items(session_stack, f"{table}-development", case) == []


def test_oversized_item_is_named_with_its_size_and_others_load(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "oversized")
    records = [
        plot_record("oversized", "small", 1000),
        plot_record("oversized", "huge", 500_000),
        {"experimentId": "oversized"},
    ]
    write_json(folder, "mock_plots_tables.json", {"records": records})
    result = load(session_stack, data)
    assert result.returncode == 1
    assert "record 1 (experimentId=oversized, plotUuid=huge): item is 500," in (
        result.stdout
    )
    assert "over DynamoDB's 409,600-byte item limit" in result.stdout
    assert "record 2: missing key attribute 'plotUuid'" in result.stdout
    plots = items(session_stack, "plots-tables-development", "oversized")
    assert [p["plotUuid"] for p in plots] == ["small"]
    assert "1 item," in result.stdout and "2 errors" in result.stdout


@pytest.mark.parametrize(
    "broken, message",
    [
        ("not-gzip", "not a valid gzip file"),
        ("truncated-small", "truncated gzip file"),
        ("truncated-multipart", "truncated gzip file"),
    ],
)
def test_failed_rds_leaves_no_object_and_no_new_version(
    session_stack: RunningStack, tmp_path: Path, broken: str, message: str
) -> None:
    data = tmp_path / "data"
    experiment = f"rds-{broken}"
    folder = experiment_folder(data, experiment)
    size = 20 * MB if broken.endswith("multipart") else 1000
    write_rds(folder, payload(size, seed=1))
    assert load(session_stack, data).returncode == 0
    before = rds_versions(session_stack, experiment)
    assert len(before) == 1
    good = gzip.compress(payload(size, seed=2), compresslevel=1)
    rds = folder / "r.rds.gz"
    rds.write_bytes(b"PK\x03\x04 not gzip" if broken == "not-gzip" else good[:-100])
    fresh = experiment_folder(data, f"{experiment}-fresh")
    (fresh / "r.rds.gz").write_bytes(rds.read_bytes())
    result = load(session_stack, data)
    assert result.returncode == 1
    assert f"{experiment}/r.rds.gz: {message}" in result.stdout
    assert rds_versions(session_stack, experiment) == before
    assert rds_versions(session_stack, f"{experiment}-fresh") == []
    body = session_stack.client("s3").get_object(
        Bucket=SOURCE, Key=f"{experiment}/r.rds"
    )
    assert body["Body"].read() == payload(size, seed=1)
    uploads = session_stack.client("s3").list_multipart_uploads(Bucket=SOURCE)
    assert uploads.get("Uploads", []) == []


def test_invalid_experiment_folder_names_are_refused(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    for name in ("has space", "dots.in.name", "ünïcode"):
        folder = experiment_folder(data, name)
        write_json(folder, "mock_experiment.json", {"experimentId": name})
    result = load(session_stack, data)
    assert result.returncode == 1
    for name in ("has space", "dots.in.name", "ünïcode"):
        assert f"{name}: not a valid experiment id" in result.stdout
        assert items(session_stack, "experiments-development", name) == []


def test_missing_data_folder_is_an_error(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    result = load(session_stack, tmp_path / "nowhere")
    assert result.returncode == 1
    assert "data folder does not exist" in result.stdout


def test_the_load_summary_fits_80_columns_without_cutting_ids(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    experiment = "e52b39624588791a7889e39c617f669e"  # ids are 32 characters
    data = tmp_path / "data"
    folder = experiment_folder(data, experiment)
    write_json(folder, "mock_experiment.json", {"experimentId": experiment})
    write_rds(folder, payload(1000))
    result = session_stack.cli("reload-data", BIOMAGE_DATA_PATH=str(data), COLUMNS="80")
    assert result.returncode == 0, result.stdout
    rows = [l for l in result.stdout.splitlines() if l.startswith(experiment)]
    assert rows, result.stdout
    assert all(len(row) <= 80 for row in rows), rows
    assert "…" not in result.stdout
