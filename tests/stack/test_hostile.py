"""Hostile and broken data folders: a specific error, the rest loads, no half-writes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from inframock.testing.harness import RunningStack
from inframock.testing.datafolder import MB, experiment_folder, write_json
from tests.helpers import SOURCE, items, load, rds_versions

EXPERIMENTS = "experiments-development"


def with_good_neighbour(data: Path, name: str) -> None:
    """A valid experiment beside the broken one, which must still load."""
    folder = experiment_folder(data, f"{name}-ok")
    write_json(folder, "mock_experiment.json", {"experimentId": f"{name}-ok"})


def assert_neighbour_loaded(stack: RunningStack, name: str) -> None:
    """The good experiment beside the broken one is there."""
    assert len(items(stack, EXPERIMENTS, f"{name}-ok")) == 1


JSON_CASES = {
    "duplicate-keys": (
        b'{"experimentId": "duplicate-keys", "a": 1, "a": 2}',
        "duplicate key 'a' in a JSON object",
    ),
    "too-deep": (
        b'{"experimentId": "too-deep", "x": ' + b"[" * 40 + b"]" * 40 + b"}",
        "nested deeper than DynamoDB's 32 levels",
    ),
    "too-deep-for-python": (
        b'{"experimentId": "too-deep-for-python", "x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
        "JSON nested too deeply to read",
    ),
    "huge-number": (
        b'{"experimentId": "huge-number", "n": 1' + b"0" * 200 + b"}",
        "beyond DynamoDB's 38-digit range",
    ),
    "empty-attribute-name": (
        b'{"experimentId": "empty-attribute-name", "": 1}',
        "an attribute name is empty",
    ),
    "empty-key-value": (b'{"experimentId": ""}', "must be a non-empty string"),
    "infinity": (
        b'{"experimentId": "infinity", "n": -Infinity}',
        "-Infinity is not a number DynamoDB can store",
    ),
}


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_hostile_json_gets_a_specific_error(
    session_stack: RunningStack, tmp_path: Path, case: str
) -> None:
    content, message = JSON_CASES[case]
    data = tmp_path / "data"
    (experiment_folder(data, case) / "mock_experiment.json").write_bytes(content)
    with_good_neighbour(data, case)
    result = load(session_stack, data)
    assert result.returncode == 1
    assert f"{case}/mock_experiment.json:" in result.stdout
    assert message in result.stdout
    assert "Traceback" not in result.stdout
    assert items(session_stack, EXPERIMENTS, case) == []
    assert_neighbour_loaded(session_stack, case)


def test_empty_strings_and_lists_are_kept(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "empties")
    write_json(
        folder,
        "mock_experiment.json",
        {"experimentId": "empties", "name": "", "list": [], "map": {}},
    )
    assert load(session_stack, data).returncode == 0
    (item,) = items(session_stack, EXPERIMENTS, "empties")
    assert item == {"experimentId": "empties", "name": "", "list": [], "map": {}}


def test_gzip_bomb_is_refused_and_writes_nothing(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "bomb")
    (folder / "r.rds.gz").write_bytes(gzip.compress(b"\0" * (40 * MB)))
    assert (folder / "r.rds.gz").stat().st_size < 100_000
    with_good_neighbour(data, "bomb")
    result = session_stack.cli(
        "reload-data", BIOMAGE_DATA_PATH=str(data), INFRAMOCK_RDS_LIMIT_MB="10"
    )
    assert result.returncode == 1
    assert "bomb/r.rds.gz: inflates past 10.5 MB" in result.stdout
    assert rds_versions(session_stack, "bomb") == []
    uploads = session_stack.client("s3").list_multipart_uploads(Bucket=SOURCE)
    assert uploads.get("Uploads", []) == []
    assert_neighbour_loaded(session_stack, "bomb")


def test_symlinks_inside_are_followed_outside_and_loops_are_refused(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    outside = experiment_folder(tmp_path / "elsewhere", "outside")
    write_json(outside, "mock_experiment.json", {"experimentId": "outside"})
    (data / "outside").parent.mkdir(parents=True, exist_ok=True)
    (data / "outside").symlink_to(outside)
    (data / "loop").symlink_to(data / "loop")
    linked = experiment_folder(data, "linked")
    shared = data / ".shared.json"
    shared.write_text('{"experimentId": "linked"}')
    (linked / "mock_experiment.json").symlink_to(shared)
    (linked / "mock_samples.json").symlink_to(outside / "mock_experiment.json")
    result = load(session_stack, data)
    assert result.returncode == 1
    assert "outside: symlink to" in result.stdout and "outside the data folder" in (
        result.stdout
    )
    assert "loop: broken symlink or symlink loop" in result.stdout
    assert "linked/mock_samples.json: symlink to" in result.stdout
    assert items(session_stack, EXPERIMENTS, "outside") == []
    assert len(items(session_stack, EXPERIMENTS, "linked")) == 1
    assert items(session_stack, "samples-development", "linked") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_named(session_stack: RunningStack, tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = write_json(
        experiment_folder(data, "locked"), "mock_experiment.json", {"a": 1}
    )
    path.chmod(0)
    result = load(session_stack, data)
    assert "locked/mock_experiment.json: cannot read: Permission denied" in (
        result.stdout
    )


def test_random_bytes_as_rds_are_refused(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "noise")
    (folder / "r.rds.gz").write_bytes(os.urandom(4096))
    result = load(session_stack, data)
    assert result.returncode == 1
    assert "noise/r.rds.gz: not a valid gzip file" in result.stdout
    assert rds_versions(session_stack, "noise") == []


def test_empty_rds_is_refused(session_stack: RunningStack, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (experiment_folder(data, "empty-rds") / "r.rds.gz").write_bytes(b"")
    result = load(session_stack, data)
    assert result.returncode == 1
    assert "empty-rds/r.rds.gz: empty file: not a gzip file" in result.stdout
    assert rds_versions(session_stack, "empty-rds") == []
