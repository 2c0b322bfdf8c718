"""Incremental reloads: every kind of change is picked up, nothing stale survives."""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

from inframock.testing.harness import ROOT, RunningStack, cli
from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    write_json,
    write_rds,
)
from tests.helpers import SOURCE, items, load

EXPERIMENTS = "experiments-development"
PLOTS = "plots-tables-development"


def source_object(stack: RunningStack, experiment: str) -> bytes:
    """The r.rds of an experiment as the worker reads it."""
    body = stack.client("s3").get_object(Bucket=SOURCE, Key=f"{experiment}/r.rds")
    return bytes(body["Body"].read())


def test_unchanged_files_are_skipped_and_every_change_is_loaded(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = experiment_folder(data, "inc-1")
    write_json(first, "mock_experiment.json", {"experimentId": "inc-1", "v": 1})
    records = [{"experimentId": "inc-1", "plotUuid": "a", "v": 1}]
    write_json(first, "mock_plots_tables.json", {"records": records})
    write_rds(first, payload(1000, seed=1))
    result = load(session_stack, data)
    assert "loaded 1 experiment: 2 items" in result.stdout, result.stdout

    again = load(session_stack, data)
    assert again.returncode == 0
    assert "0 items, 0 B into S3, 0 errors; 3 unchanged files skipped" in again.stdout

    # An edited record, an added record, a replaced r.rds.gz, a new experiment.
    records = [
        {"experimentId": "inc-1", "plotUuid": "a", "v": 2},
        {"experimentId": "inc-1", "plotUuid": "b", "v": 1},
    ]
    write_json(first, "mock_plots_tables.json", {"records": records})
    write_rds(first, payload(2000, seed=2))
    second = experiment_folder(data, "inc-2")
    write_json(second, "mock_samples.json", {"experimentId": "inc-2"})
    changed = load(session_stack, data)
    assert "loaded 2 experiments: 3 items, 2.0 kB into S3" in changed.stdout
    assert "1 unchanged file skipped" in changed.stdout
    plots = {p["plotUuid"]: p["v"] for p in items(session_stack, PLOTS, "inc-1")}
    assert plots == {"a": 2, "b": 1}
    assert source_object(session_stack, "inc-1") == payload(2000, seed=2)
    assert items(session_stack, "samples-development", "inc-2")


def test_a_file_changed_back_and_forth_never_leaves_stale_data(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "flip")
    path = write_json(folder, "mock_experiment.json", {"experimentId": "flip", "v": 1})
    original = os.stat(path)
    load(session_stack, data)
    write_json(folder, "mock_experiment.json", {"experimentId": "flip", "v": 2})
    load(session_stack, data)
    assert items(session_stack, EXPERIMENTS, "flip")[0]["v"] == 2
    # Back to the first content, even with the first mtime restored.
    write_json(folder, "mock_experiment.json", {"experimentId": "flip", "v": 1})
    os.utime(path, ns=(original.st_atime_ns, original.st_mtime_ns))
    load(session_stack, data)
    assert items(session_stack, EXPERIMENTS, "flip")[0]["v"] == 1
    # The same bytes rewritten (a touch, a checkout): hashed, found equal, skipped.
    path.write_bytes(path.read_bytes())
    touched = load(session_stack, data)
    assert "1 unchanged file skipped" in touched.stdout


def test_a_file_that_failed_is_loaded_again_once_fixed(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "retry")
    (folder / "mock_experiment.json").write_text('{"experimentId": "retry", "v": }')
    good = gzip.compress(payload(5000))
    (folder / "r.rds.gz").write_bytes(good[:-20])
    assert load(session_stack, data).returncode == 1
    assert load(session_stack, data).returncode == 1  # still failing, not skipped
    write_json(folder, "mock_experiment.json", {"experimentId": "retry", "v": 1})
    (folder / "r.rds.gz").write_bytes(good)
    fixed = load(session_stack, data)
    assert fixed.returncode == 0, fixed.stdout
    assert items(session_stack, EXPERIMENTS, "retry")[0]["v"] == 1
    assert source_object(session_stack, "retry") == payload(5000)


def test_reload_all_loads_unchanged_files_too(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "forced")
    write_json(folder, "mock_experiment.json", {"experimentId": "forced", "v": 1})
    load(session_stack, data)
    session_stack.client("dynamodb").put_item(
        TableName=EXPERIMENTS,
        Item={"experimentId": {"S": "forced"}, "v": {"N": "99"}},
    )
    assert "1 unchanged file skipped" in load(session_stack, data).stdout
    assert items(session_stack, EXPERIMENTS, "forced")[0]["v"] == 99
    forced = session_stack.cli("reload-data", "--all", BIOMAGE_DATA_PATH=str(data))
    assert "loaded 1 experiment: 1 item" in forced.stdout
    assert items(session_stack, EXPERIMENTS, "forced")[0]["v"] == 1


def test_a_restarted_stack_gets_everything_again(
    make_stack: object, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "restart")
    write_json(folder, "mock_experiment.json", {"experimentId": "restart"})
    first = make_stack(data).wait_ready()  # type: ignore[operator]
    assert "1 item" in first.output
    assert "unchanged" in first.cli("reload-data").stdout
    first.stop()
    second = RunningStack(first.env).wait_ready()
    try:
        assert "loaded 1 experiment: 1 item" in second.output
        assert items(second, EXPERIMENTS, "restart")
    finally:
        second.stop()


def test_reloads_run_in_the_stack_and_answer_the_asking_terminal(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    record = json.loads(
        (Path(session_stack.env["INFRAMOCK_STATE_DIR"]) / "stack.json").read_text()
    )
    socket_path = Path(record["control"])
    assert socket_path.is_socket()
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    folder = experiment_folder(tmp_path / "relative", "via-control")
    write_json(folder, "mock_experiment.json", {"experimentId": "via-control"})
    result = cli(
        {
            **session_stack.env,
            "BIOMAGE_DATA_PATH": "relative",  # relative to the asking terminal
            "INFRAMOCK_TEST_CWD": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "INFRAMOCK_STATE_DIR": session_stack.env["INFRAMOCK_STATE_DIR"],
        },
        "reload-data",
    )
    assert result.returncode == 0, result.stdout
    assert f"loading {tmp_path / 'relative'}" in result.stdout
    assert "loaded 1 experiment: 1 item" in result.stdout
    assert f"loading {tmp_path / 'relative'}" not in session_stack.output
    assert len(items(session_stack, EXPERIMENTS, "via-control")) == 1
