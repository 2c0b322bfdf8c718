"""`make status` in a pipe at 80 columns: every address and id whole, on one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inframock.testing.datafolder import experiment_folder, write_json

pytestmark = pytest.mark.slow

LONG_ID = "experiment-with-a-long-id-0123456789abcdef0123456789abcdef"


def test_status_at_80_columns_prints_whole_values(
    make_stack: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, LONG_ID)
    write_json(folder, "mock_experiment.json", {"experimentId": LONG_ID})
    stack = make_stack(data).wait_ready()
    narrow = stack.cli("status", "--verbose", COLUMNS="80")  # a pipe; the tables
    assert narrow.returncode == 0, narrow.stdout
    lines = narrow.stdout.splitlines()
    assert "…" not in narrow.stdout
    for whole in (
        stack.endpoint,
        f"redis://127.0.0.1:{stack.redis_port}",
        LONG_ID,
        "http://127.0.0.1:9/v1/pipelineResults",
        '{"type": ["PipelineResponse"]}',
    ):
        assert any(whole in line for line in lines), (whole, narrow.stdout)
    # Stacked rows: the value beside its column's name.
    assert any(line.split() == ["address", stack.endpoint] for line in lines)
    assert any(line.strip() == LONG_ID for line in lines)

    wide = stack.cli("status", "-v", COLUMNS="250")  # side by side when it fits
    header = next(line for line in wide.stdout.splitlines() if "address" in line)
    assert header.split()[:3] == ["service", "state", "address"]
    assert LONG_ID in wide.stdout and "…" not in wide.stdout

    as_json = stack.cli("status", "--json", COLUMNS="80")
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert document["services"][0]["address"] == stack.endpoint
    assert LONG_ID in document["experiments"]
