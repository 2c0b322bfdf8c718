"""Data folders that used to go wrong silently: a copied experiment that keeps
the original's ids, 2021 file names in profile current, PostgreSQL without
its schema. Real stacks, real commands."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
import pytest

from inframock.data import default
from inframock.testing.datafolder import experiment_folder, write_json
from inframock.testing.harness import ROOT

pytestmark = pytest.mark.slow

PROJECTS = "projects-development"


def _projects(stack: Any) -> dict[str, list[str]]:
    """Project uuid → the experiments its item lists."""
    items = stack.client("dynamodb").scan(TableName=PROJECTS)["Items"]
    plain = [
        {k: TypeDeserializer().deserialize(v) for k, v in i.items()} for i in items
    ]
    return {item["projectUuid"]: list(item["experiments"]) for item in plain}


def test_new_experiment_copies_with_ids_of_its_own_and_a_hand_copy_warns(
    make_stack: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    original = default.write(data).name
    stack = make_stack(data).wait_ready()

    made = subprocess.run(
        ["make", "-s", "--no-print-directory", "new-experiment", f"FROM={original}"]
        + ["TO=exp-copy"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"{original} → exp-copy" in made.stdout
    copied = (data / "exp-copy" / "mock_projects.json").read_text()
    assert original not in copied and default.PROJECT_UUID not in copied
    assert (data / "exp-copy" / "r.rds.gz").read_bytes() == (
        data / original / "r.rds.gz"
    ).read_bytes()
    reload = stack.cli("reload-data")
    assert reload.returncode == 0, reload.stdout
    assert "warning" not in reload.stdout, reload.stdout
    projects = _projects(stack)
    assert projects[default.PROJECT_UUID] == [original]
    assert sorted(projects.values()) == sorted([[original], ["exp-copy"]])

    # By hand: the template copied, only its experiment id changed.
    hand = data / "hand-copy"
    shutil.copytree(data / original, hand)
    for name in ("mock_experiment.json", "mock_samples.json"):
        text = (hand / name).read_text().replace(original, "hand-copy")
        (hand / name).write_text(text)
    again = stack.cli("reload-data")
    warned = [line for line in again.stdout.splitlines() if "warning:" in line]
    assert any(
        f"{PROJECTS}: projectUuid {default.PROJECT_UUID} is in "
        f"{original}/mock_projects.json and hand-copy/mock_projects.json" in line
        and f"`make new-experiment FROM={original}`" in line
        for line in warned
    ), again.stdout


def test_current_says_each_2021_name_once_and_that_the_schema_is_empty(
    make_stack: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    ids = [f"exp-{n}" for n in range(4)]
    for experiment in ids:
        folder = experiment_folder(data, experiment)
        write_json(folder, "mock_experiment.json", {"experimentId": experiment})
        write_json(folder, "mock_samples.json", {"experimentId": experiment})
        (folder / "r.rds.gz").write_bytes(gzip.compress(b"rds"))
    stack = make_stack(data, INFRAMOCK_PROFILE="current").wait_ready()
    lines = stack.lines
    rds = [line for line in lines if "r.rds.gz: ignored" in line]
    assert rds == [
        "inframock | r.rds.gz: ignored in 4 experiments (exp-0, exp-1, exp-2 and "
        "1 more; profile 2021's name; profile current loads the r.rds from "
        "biomage-source.r.rds.gz)"
    ], stack.output
    tables = [line for line in lines if "mock_experiment.json: ignored" in line]
    assert len(tables) == 1 and "make seed-sql" in tables[0], stack.output
    assert sum("ignored" in line for line in lines) == 3  # three names, not twelve
    assert any("aurora_db has no tables yet: `make migrate`" in l for l in lines)

    status = stack.cli("status")
    assert "warning: postgres: aurora_db has no tables yet: `make migrate`" in (
        status.stdout
    ), status.stdout
