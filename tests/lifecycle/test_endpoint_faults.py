"""The AWS endpoint dies mid-load, and the data folder changes mid-load.

The loader runs here as the Compose road's `populate` does (`python -m inframock
seed`) against a plain moto server, which the test kills and brings back on the
same port: bounded retries, a clear error, then an exact reload.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from inframock.testing.harness import ROOT, base_env, free_port, spawn, standalone_moto
from inframock.testing.datafolder import (
    MB,
    experiment_folder,
    payload,
    plot_record,
    write_json,
)

pytestmark = pytest.mark.faults

GIVE_UP_WITHIN = 90.0
"""Seconds the loader may spend retrying a dead endpoint before its error."""


def seed_process(env: dict[str, str]) -> subprocess.Popen[str]:
    """`python -m inframock seed` in the background, its output collected."""
    return spawn([sys.executable, "-m", "inframock", "seed"], env)


def write_big_experiment(data: Path) -> tuple[bytes, list[dict[str, object]]]:
    """An experiment with a 96 MB r.rds and 60 plots of 200 kB; its contents."""
    folder = experiment_folder(data, "big")
    rds = payload(96 * MB, seed=7)
    (folder / "r.rds.gz").write_bytes(gzip.compress(rds, compresslevel=0))
    records = [plot_record("big", f"plot-{i:02d}", 200_000) for i in range(60)]
    write_json(folder, "mock_plots_tables.json", {"records": records})
    return rds, records


def test_endpoint_killed_mid_load_then_reload_is_exact(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rds, records = write_big_experiment(data)
    port = free_port()
    env = base_env(tmp_path, INFRAMOCK_AWS_ENDPOINT=f"http://127.0.0.1:{port}")
    env["BIOMAGE_DATA_PATH"] = str(data)
    with standalone_moto(port):
        loader = seed_process(env)
        assert loader.stdout is not None
        for line in loader.stdout:
            if "big/r.rds.gz → s3://" in line:
                break  # the upload is under way: kill the endpoint now
    # standalone_moto has terminated the server; the loader must give up cleanly.
    output = loader.communicate(timeout=GIVE_UP_WITHIN)[0]
    assert loader.returncode == 1, output
    assert "Traceback" not in output
    assert "big/r.rds.gz: upload failed: Could not connect" in output
    with standalone_moto(port) as endpoint:  # back, empty, as a restarted engine is
        again = seed_process(env)
        output = again.communicate(timeout=120)[0]
        assert again.returncode == 0, output
        check_exact(endpoint, rds, records)


def check_exact(endpoint: str, rds: bytes, records: list[dict[str, object]]) -> None:
    """The stored data is exactly the input: one object, whole, no upload left."""
    options = {
        "endpoint_url": endpoint,
        "region_name": "eu-west-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    s3 = boto3.client("s3", **options)
    bucket = "biomage-source-development"
    versions = s3.list_object_versions(Bucket=bucket).get("Versions", [])
    assert [v["Key"] for v in versions] == ["big/r.rds"]
    assert s3.get_object(Bucket=bucket, Key="big/r.rds")["Body"].read() == rds
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    table = boto3.resource("dynamodb", **options).Table("plots-tables-development")
    stored, start = [], {}
    while True:  # every page
        page = table.scan(**start)
        stored += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert sorted(json.dumps(i, sort_keys=True, default=int) for i in stored) == sorted(
        json.dumps(r, sort_keys=True) for r in records
    )


def reload_data(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`inframock reload-data` run to its end, as from another terminal."""
    return subprocess.run(
        [sys.executable, "-m", "inframock", "reload-data"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_data_folder_changing_mid_load_never_crashes(
    make_stack: object, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    write_big_experiment(data)
    doomed = experiment_folder(data, "doomed")
    write_json(doomed, "mock_experiment.json", {"experimentId": "doomed"})
    edited = experiment_folder(data, "edited")
    path = write_json(
        edited, "mock_experiment.json", {"experimentId": "edited", "v": 1}
    )
    stack = make_stack(tmp_path / "empty")  # type: ignore[operator]
    stack.wait_ready()
    env = {**stack.env, "BIOMAGE_DATA_PATH": str(data)}
    loader = seed_process(env)
    assert loader.stdout is not None
    for line in loader.stdout:
        if "big/r.rds.gz → s3://" in line:
            break
    path.write_text(json.dumps({"experimentId": "edited", "v": 2}))
    for child in doomed.iterdir():
        child.unlink()
    doomed.rmdir()
    output = "".join(loader.stdout)
    code = loader.wait(timeout=120)
    assert "Traceback" not in output
    assert stack.process.poll() is None  # the stack is still there
    # A failure can only be the vanished experiment's, and says which it was.
    assert code == 0 or (code == 1 and "doomed" in output), output
    ddb = stack.client("dynamodb")

    def edited_version() -> str | None:
        item = ddb.get_item(
            TableName="experiments-development",
            Key={"experimentId": {"S": "edited"}},
        ).get("Item")
        return None if item is None else str(item["v"]["N"])

    # Whichever version was read, it was read whole.
    assert edited_version() in {None, "1", "2"}
    # Once the folder holds still, a reload brings the stack to exactly it.
    assert reload_data(env).returncode == 0
    assert edited_version() == "2"
