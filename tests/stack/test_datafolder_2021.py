"""The data folder as the 2021 loader grew it, loaded into a real running stack.

Projects, cell sets in S3, the worker's processed matrix (its own file, or the
`r.rds` copied there), and items in DynamoDB's typed JSON, read back over the
wire as the 2021 API and worker read them.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from inframock.testing.harness import RunningStack
from inframock.testing.datafolder import (
    MB,
    experiment_folder,
    payload,
    write_json,
    write_rds,
)
from tests.helpers import GOOD, RDS_BYTES, SOURCE, load

PROJECTS = "projects-development"
CELL_SETS = "cell-sets-development"
MATRIX = "processed-matrix-development"
SERVES = (
    "r.rds also serves as the processed matrix "
    "(worker ≥ 2021-04 reads processed-matrix-development)"
)
CELL_SETS_DOCUMENT = {
    "cellSets": [
        {
            "rootNode": True,
            "key": "leiden",
            "name": "Leiden clusters",
            "children": [
                {"key": "louvain-0", "color": "#e377c2", "cellIds": [154, 1052]},
                {"key": "louvain-1", "color": "#8c564b", "cellIds": [0.5, 3]},
            ],
        },
        {"key": "scratchpad", "name": "Custom cell sets", "children": []},
    ]
}


def matrix_objects(stack: RunningStack, experiment: str) -> dict[str, bytes]:
    """What the worker downloads: every non-empty object listed under the id."""
    s3 = stack.client("s3")
    listing = s3.list_objects_v2(Bucket=MATRIX, Prefix=experiment)
    return {
        o["Key"]: s3.get_object(Bucket=MATRIX, Key=o["Key"])["Body"].read()
        for o in listing.get("Contents", [])
        if o["Size"] > 0
    }


def cell_sets(stack: RunningStack, experiment: str) -> Any:
    """The cell sets as the API reads them: getObject, then JSON.parse."""
    body = stack.client("s3").get_object(Bucket=CELL_SETS, Key=experiment)["Body"]
    return json.loads(body.read().decode("utf-8"))


def test_session_rds_also_serves_as_the_processed_matrix(
    session_stack: RunningStack,
) -> None:
    assert matrix_objects(session_stack, GOOD) == {f"{GOOD}/r.rds": payload(RDS_BYTES)}
    assert f"{GOOD}: {SERVES}" in session_stack.output


def test_projects_file_loads_into_the_projects_table(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "proj-1")
    project = {"projectUuid": "p-proj-1", "name": "P", "experiments": ["proj-1"]}
    write_json(folder, "mock_projects.json", project)
    write_json(
        folder, "mock_projects_bad.json", {"records": [{"name": "no key"}, project]}
    )
    result = load(session_stack, data)
    assert result.returncode == 1, result.stdout
    assert (
        "proj-1/mock_projects_bad.json: record 0: missing key attribute 'projectUuid'"
        in result.stdout
    )
    ddb = session_stack.client("dynamodb")
    item = ddb.get_item(TableName=PROJECTS, Key={"projectUuid": {"S": "p-proj-1"}})
    assert item["Item"] == {
        "projectUuid": {"S": "p-proj-1"},
        "name": {"S": "P"},
        "experiments": {"L": [{"S": "proj-1"}]},
    }


def test_cell_sets_file_is_the_api_s_json_object(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "cells-1")
    text = json.dumps(CELL_SETS_DOCUMENT)
    (folder / "mock_cell_sets.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = load(session_stack, data)
    assert result.returncode == 0, result.stdout
    head = session_stack.client("s3").head_object(Bucket=CELL_SETS, Key="cells-1")
    assert head["ContentType"] == "application/json"
    assert cell_sets(session_stack, "cells-1") == CELL_SETS_DOCUMENT  # no BOM left
    assert "cell sets" in result.stdout and "errors" in result.stdout


BAD_CELL_SETS = {
    "malformed": (b'{"cellSets": [', "malformed JSON at line 1, column 15"),
    "no-cell-sets": (b'{"cells": []}', 'expected {"cellSets": [...]}'),
    "child-without-key": (
        b'{"cellSets": [{"key": "a", "children": [{"name": "x"}]}]}',
        'cellSets[0].children[0] needs a non-empty string "key"',
    ),
    "nan": (b'{"cellSets": [], "x": NaN}', "NaN is not a number"),
}


@pytest.mark.parametrize("case", sorted(BAD_CELL_SETS))
def test_bad_cell_sets_are_named_and_leave_the_old_object(
    session_stack: RunningStack, tmp_path: Path, case: str
) -> None:
    content, message = BAD_CELL_SETS[case]
    experiment = f"cells-bad-{case}"
    data = tmp_path / "data"
    folder = experiment_folder(data, experiment)
    write_json(folder, "mock_cell_sets.json", CELL_SETS_DOCUMENT)
    assert load(session_stack, data).returncode == 0
    (folder / "mock_cell_sets.json").write_bytes(content)
    write_json(folder, "mock_experiment.json", {"experimentId": experiment})
    result = load(session_stack, data)
    assert result.returncode == 1, result.stdout
    assert f"{experiment}/mock_cell_sets.json: {message}" in result.stdout
    assert cell_sets(session_stack, experiment) == CELL_SETS_DOCUMENT
    ddb = session_stack.client("dynamodb")
    assert ddb.get_item(
        TableName="experiments-development",
        Key={"experimentId": {"S": experiment}},
    )["Item"]


def test_two_cell_sets_files_are_a_problem_and_the_first_loads(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "cells-two")
    write_json(folder, "mock_cell_sets.json", CELL_SETS_DOCUMENT)
    write_json(folder, "mock_cell_sets_old.json", {"cellSets": []})
    result = load(session_stack, data)
    assert result.returncode == 1
    assert "cells-two/mock_cell_sets_old.json: mock_cell_sets.json already goes" in (
        result.stdout
    )
    assert cell_sets(session_stack, "cells-two") == CELL_SETS_DOCUMENT


def test_own_processed_matrix_goes_to_the_worker_and_rds_stays_the_source(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "matrix-own")
    write_rds(folder, payload(1000, seed=1))
    matrix = payload(9 * MB, seed=2)  # multipart: the upload streams in parts
    (folder / "processed-matrix.r.rds.gz").write_bytes(gzip.compress(matrix, 1))
    result = load(session_stack, data)
    assert result.returncode == 0, result.stdout
    assert matrix_objects(session_stack, "matrix-own") == {"matrix-own/r.rds": matrix}
    source = session_stack.client("s3").get_object(
        Bucket=SOURCE, Key="matrix-own/r.rds"
    )
    assert source["Body"].read() == payload(1000, seed=1)
    assert SERVES not in result.stdout


def test_rds_alone_is_copied_to_the_processed_matrix_and_said_so(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    rds = payload(9 * MB, seed=3)  # over the multipart threshold: a multipart copy
    write_rds(experiment_folder(data, "matrix-copy"), rds)
    broken = experiment_folder(data, "matrix-broken")
    (broken / "r.rds.gz").write_bytes(gzip.compress(rds, 1)[:-100])
    result = load(session_stack, data)
    assert result.returncode == 1, result.stdout
    assert f"matrix-copy: {SERVES}" in result.stdout
    assert "matrix-broken: r.rds also" not in result.stdout
    assert matrix_objects(session_stack, "matrix-copy") == {"matrix-copy/r.rds": rds}
    assert matrix_objects(session_stack, "matrix-broken") == {}
    # Gunzipped once: the summary counts the bytes of one upload, not two.
    assert "9.4 MB into S3" in result.stdout


TYPED_PROJECT = {
    "projectUuid": {"S": "p-typed"},
    "name": {"S": "typed project"},
    "rbac_can_write": {"SS": ["user-1", "user-2"]},
    "scores": {"NS": ["0.1", "12345678901234567890123456789012345678"]},
    "count": {"N": "-42.50"},
    "blob": {"B": base64.b64encode(b"\x00\x01binary").decode()},
    "flags": {"M": {"public": {"BOOL": False}, "gone": {"NULL": True}}},
    "experiments": {"L": [{"S": "typed-1"}, {"N": "7"}]},
}


def test_typed_json_loads_exactly_and_sets_stay_sets(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "typed-1")
    write_json(folder, "mock_projects.json", {"records": [TYPED_PROJECT]})
    write_json(
        folder,
        "mock_experiment.json",
        {"experimentId": {"S": "typed-1"}, "tags": {"SS": ["a", "b"]}},
    )
    result = load(session_stack, data)
    assert result.returncode == 0, result.stdout
    ddb = session_stack.client("dynamodb")
    item = ddb.get_item(TableName=PROJECTS, Key={"projectUuid": {"S": "p-typed"}})
    loaded = item["Item"]
    assert sorted(loaded["rbac_can_write"]["SS"]) == ["user-1", "user-2"]
    assert sorted(loaded["scores"]["NS"]) == sorted(TYPED_PROJECT["scores"]["NS"])
    assert loaded["blob"] == {"B": b"\x00\x01binary"}
    for name in ("projectUuid", "name", "count", "flags", "experiments"):
        assert loaded[name] == TYPED_PROJECT[name]
    experiment = ddb.get_item(
        TableName="experiments-development", Key={"experimentId": {"S": "typed-1"}}
    )["Item"]
    assert sorted(experiment["tags"]["SS"]) == ["a", "b"]


BAD_TYPED = [
    ({"count": {"N": "12abc"}}, "attribute count: N '12abc' is not a number"),
    ({"count": {"N": 5}}, "attribute count: N must be a string, found 5"),
    ({"rbac_can_write": {"SS": []}}, "attribute rbac_can_write: SS must be a non-"),
    ({"rbac_can_write": {"SS": ["a", "a"]}}, "SS holds the same member twice"),
    ({"scores": {"NS": ["1", "1.0"]}}, "NS holds the same member twice"),
    ({"blob": {"B": "not base64!"}}, "attribute blob: B is not base64"),
    ({"flags": {"M": {"x": {"BOOL": "yes"}}}}, "flags.x: BOOL must be true or false"),
    ({"experiments": {"L": [{"S": "a"}, "b"]}}, "attribute experiments[1]: expected"),
    ({"gone": {"NULL": False}}, "attribute gone: NULL must be true"),
    ({"count": {"N": "1E+200"}}, "beyond DynamoDB's 38-digit range"),
]


def test_bad_typed_records_are_named_and_the_good_ones_load(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "typed-bad")
    records = [{"projectUuid": {"S": "typed-good"}, "rbac": {"SS": ["x"]}}]
    records += [
        {"projectUuid": {"S": f"typed-bad-{i}"}, **attributes}
        for i, (attributes, _) in enumerate(BAD_TYPED)
    ]
    records.append({"projectUuid": {"N": "1"}})
    records.append({"projectUuid": {"S": "typed-empty-name"}, "": {"S": "x"}})
    write_json(folder, "mock_projects.json", {"records": records})
    result = load(session_stack, data)
    assert result.returncode == 1, result.stdout
    for index, (_, message) in enumerate(BAD_TYPED):
        where = f"typed-bad/mock_projects.json: record {index + 1} "
        assert f"{where}(projectUuid=typed-bad-{index}): " in result.stdout
        line = next(l for l in result.stdout.splitlines() if where in l)
        assert message in line, line
    last = f"record {len(BAD_TYPED) + 1}: key attribute 'projectUuid' must be"
    assert last in result.stdout
    empty = f"record {len(BAD_TYPED) + 2}: an attribute name is empty"
    assert empty in result.stdout
    ddb = session_stack.client("dynamodb")
    good = ddb.get_item(TableName=PROJECTS, Key={"projectUuid": {"S": "typed-good"}})
    assert good["Item"]["rbac"] == {"SS": ["x"]}
    assert "Item" not in ddb.get_item(
        TableName=PROJECTS, Key={"projectUuid": {"S": "typed-bad-0"}}
    )


def test_a_file_mixing_typed_and_plain_records_says_why_the_typed_fail(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "typed-mixed")
    records = [{"projectUuid": "plain"}, {"projectUuid": {"S": "typed"}}]
    write_json(folder, "mock_projects.json", {"records": records})
    result = load(session_stack, data)
    assert result.returncode == 1
    assert (
        "record 1: key attribute 'projectUuid' must be a non-empty string (it is in "
        "DynamoDB's typed form: a file is read as typed JSON only when every record is)"
    ) in result.stdout
    ddb = session_stack.client("dynamodb")
    assert ddb.get_item(TableName=PROJECTS, Key={"projectUuid": {"S": "plain"}})["Item"]


def test_status_counts_projects_cell_sets_and_processed_matrix(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    listed, named = experiment_folder(data, "stat-1"), experiment_folder(data, "stat-2")
    write_json(listed, "mock_experiment.json", {"experimentId": "stat-1"})
    write_json(
        listed,
        "mock_projects.json",
        {"projectUuid": "stat-p1", "experiments": ["stat-1"]},
    )
    write_json(listed, "mock_cell_sets.json", CELL_SETS_DOCUMENT)
    write_rds(listed, payload(1000, seed=4))
    write_json(
        named, "mock_samples.json", {"experimentId": "stat-2", "projectUuid": "stat-p2"}
    )
    write_json(named, "mock_projects.json", {"projectUuid": "stat-p2"})
    assert load(session_stack, data).returncode == 0
    result = session_stack.cli("status", "--json")
    assert result.returncode == 0, result.stdout
    experiments = json.loads(result.stdout)["experiments"]
    first, second = experiments["stat-1"], experiments["stat-2"]
    assert first["items"][PROJECTS] == 1 and second["items"][PROJECTS] == 1
    size = len(json.dumps(CELL_SETS_DOCUMENT))
    assert first["objects"][CELL_SETS] == {"objects": 1, "bytes": size}
    assert first["objects"][MATRIX] == {"objects": 1, "bytes": 1000}
    assert second["objects"][MATRIX] == {"objects": 0, "bytes": 0}
    # The tables (issue 21), wide enough for every experiment of the session.
    table = session_stack.cli("status", "--verbose", COLUMNS="400")
    header = next(l for l in table.stdout.splitlines() if "plots-tables" in l)
    assert header.split()[1:5] == ["experiments", "samples", "projects", "plots-tables"]
    row = next(l for l in table.stdout.splitlines() if l.strip().startswith("stat-1"))
    assert row.split()[1:5] == ["1", "0", "1", "0"]
    assert "s3 cell-sets" in header and "s3 processed-matrix" in header
