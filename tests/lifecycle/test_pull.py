"""`make pull`: another environment (a second moto server) into the data folder.

The remote side is a moto server of its own on a free port, seeded here with
`experiments-staging`, `samples-staging`, `projects-staging`,
`biomage-source-staging`, `processed-matrix-staging` and `cell-sets-staging`,
exactly as a Cellenics environment holds an experiment.
"""

from __future__ import annotations

import gzip
import json
import stat
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from botocore.exceptions import ClientError

from inframock.data.dataset import parse_json
from inframock.features.pull.remote import Remote, RemoteWriteRefused
from inframock.core.settings import Settings
from inframock.testing.harness import ROOT, cli, standalone_moto
from inframock.testing.datafolder import MB, payload
from tests.helpers import pull_env, remote_client

pytestmark = pytest.mark.slow

ENV = "staging"
MACHINE = "arn:aws:states:eu-west-1:242905224710:stateMachine:biomage-qc-staging-7c1f"
EXECUTION = "arn:aws:states:eu-west-1:242905224710:execution:biomage-qc-staging-7c1f"
CELL_SETS = {"cellSets": [{"key": "louvain", "children": [{"key": "c0"}]}]}


@pytest.fixture(scope="module", name="remote")
def remote_fixture() -> Iterator[str]:
    """A second moto server, standing in for the `staging` environment."""
    with standalone_moto() as endpoint:
        _provision(endpoint)
        yield endpoint


def _provision(endpoint: str) -> None:
    ddb, s3 = remote_client(endpoint, "dynamodb"), remote_client(endpoint, "s3")
    for table, key in (
        (f"experiments-{ENV}", "experimentId"),
        (f"samples-{ENV}", "experimentId"),
        (f"projects-{ENV}", "projectUuid"),
    ):
        ddb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        )
    for bucket in ("biomage-source", "processed-matrix", "cell-sets"):
        s3.create_bucket(
            Bucket=f"{bucket}-{ENV}",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
    s3.put_bucket_versioning(
        Bucket=f"biomage-source-{ENV}", VersioningConfiguration={"Status": "Enabled"}
    )


def experiment_item(experiment: str, name: str = "pulled") -> dict[str, Any]:
    """An experiment as Cellenics stores it, with its pipelines' ARNs."""
    return {
        "experimentId": experiment,
        "experimentName": name,
        "meta": {
            "organism": "mmusculus",
            "type": "10x",
            "pipeline": {
                "stateMachineArn": MACHINE,
                "executionArn": EXECUTION + ":run-1",
            },
            "gem2s": {
                "paramsHash": "7c1f",
                "stateMachineArn": MACHINE,
                "executionArn": EXECUTION + ":run-2",
            },
        },
        "processingConfig": {
            "tenth": Decimal("0.1"),
            "tiny": Decimal("1E-7"),
            "big": Decimal("12345678901234567890123456789012345678"),
            "negative": Decimal("-42.50"),
            "list": [Decimal(1), True, None, "é"],
        },
    }


def samples_item(experiment: str) -> dict[str, Any]:
    """The samples of an experiment, as Cellenics stores them."""
    return {
        "experimentId": experiment,
        "projectUuid": project_uuid(experiment),
        "samples": {"s1": {"name": "WT", "fileNames": ["matrix.mtx.gz"]}},
    }


def project_uuid(experiment: str) -> str:
    """The project of an experiment, named by its samples item."""
    return f"{experiment}-project"


def project_item(experiment: str) -> dict[str, Any]:
    """The experiment's project, with a string set as Cellenics keeps its RBAC."""
    return {
        "projectUuid": project_uuid(experiment),
        "name": "pulled project",
        "experiments": [experiment],
        "rbac_can_write": {"user-1", "user-2"},
    }


def seed(
    endpoint: str,
    experiment: str,
    rds: bytes,
    name: str = "pulled",
    matrix: bytes = b"processed",
    cell_sets: Any = None,
) -> None:
    """Put one experiment, its project and objects on the remote side (again: a
    new version)."""
    ddb, s3 = remote_client(endpoint, "dynamodb"), remote_client(endpoint, "s3")
    serialize = TypeSerializer().serialize
    for table, item in (
        (f"experiments-{ENV}", experiment_item(experiment, name)),
        (f"samples-{ENV}", samples_item(experiment)),
        (f"projects-{ENV}", project_item(experiment)),
    ):
        ddb.put_item(TableName=table, Item=serialize(item)["M"])
    s3.put_object(Bucket=f"biomage-source-{ENV}", Key=f"{experiment}/r.rds", Body=rds)
    s3.put_object(
        Bucket=f"processed-matrix-{ENV}", Key=f"{experiment}/r.rds", Body=matrix
    )
    s3.put_object(
        Bucket=f"cell-sets-{ENV}",
        Key=experiment,
        Body=json.dumps(cell_sets or CELL_SETS).encode(),
    )


def remote_state(endpoint: str) -> dict[str, Any]:
    """Everything the remote side holds: tables, items, buckets, object versions."""
    ddb, s3 = remote_client(endpoint, "dynamodb"), remote_client(endpoint, "s3")
    tables = ddb.list_tables()["TableNames"]
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    return {
        "items": {
            t: sorted(json.dumps(i, sort_keys=True) for i in _scan(ddb, t))
            for t in tables
        },
        "objects": {
            b: [
                (v["Key"], v["VersionId"], v["ETag"], v["IsLatest"])
                for page in s3.get_paginator("list_object_versions").paginate(Bucket=b)
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for b in buckets
        },
    }


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    return [
        item
        for page in ddb.get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
    ]


def test_pull_writes_what_the_loader_reads_and_never_writes_remotely(
    remote: str, tmp_path: Path, make_stack: Any
) -> None:
    rds = payload(9 * MB, seed=1)  # over 8 MB: the download shows progress
    seed(remote, "pulled-1", rds)
    before = remote_state(remote)
    env = pull_env(tmp_path, remote)
    result = cli(env, "pull", "pulled-1", "--from", ENV)
    assert result.returncode == 0, result.stdout
    assert remote_state(remote) == before
    assert "r.rds: started (9.4 MB)" in result.stdout
    assert "left out" not in result.stdout
    _assert_pulled_files(Path(env["BIOMAGE_DATA_PATH"]) / "pulled-1", rds)

    _assert_loaded(make_stack(data=Path(env["BIOMAGE_DATA_PATH"])).wait_ready(), rds)


def _assert_loaded(stack: Any, rds: bytes) -> None:
    """What the stack holds once it has loaded the pulled `pulled-1`."""
    ddb = stack.client("dynamodb")
    deserialize = TypeDeserializer().deserialize
    for table, item in (
        ("experiments-development", experiment_item("pulled-1")),
        ("samples-development", samples_item("pulled-1")),
    ):
        loaded = ddb.get_item(TableName=table, Key={"experimentId": {"S": "pulled-1"}})
        assert {k: deserialize(v) for k, v in loaded["Item"].items()} == item
    project = ddb.get_item(
        TableName="projects-development",
        Key={"projectUuid": {"S": project_uuid("pulled-1")}},
    )["Item"]
    assert sorted(project["rbac_can_write"]["SS"]) == ["user-1", "user-2"]
    assert {k: deserialize(v) for k, v in project.items()} == project_item("pulled-1")
    s3 = stack.client("s3")
    for bucket, key, body in (
        ("biomage-source-development", "pulled-1/r.rds", rds),
        ("processed-matrix-development", "pulled-1/r.rds", b"processed"),
        ("cell-sets-development", "pulled-1", json.dumps(CELL_SETS).encode()),
    ):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_kept_pipeline_executions_do_not_exist_on_the_stack(
    remote: str, tmp_path: Path, make_stack: Any
) -> None:
    """The 2021 API in development asks Step Functions about the kept executions
    and takes ExecutionDoesNotExist as SUCCEEDED: the stack must answer that."""
    seed(remote, "pulled-sfn", payload(1000, seed=5))
    env = pull_env(tmp_path, remote)
    assert cli(env, "pull", "pulled-sfn", "--from", ENV).returncode == 0
    stack = make_stack(data=Path(env["BIOMAGE_DATA_PATH"])).wait_ready()
    item = stack.client("dynamodb").get_item(
        TableName="experiments-development",
        Key={"experimentId": {"S": "pulled-sfn"}},
    )["Item"]
    meta = item["meta"]["M"]
    arns = [meta[run]["M"]["executionArn"]["S"] for run in ("pipeline", "gem2s")]
    assert arns == [EXECUTION + ":run-1", EXECUTION + ":run-2"]
    stepfunctions = stack.client("stepfunctions")
    for arn in arns:
        with pytest.raises(ClientError) as raised:
            stepfunctions.describe_execution(executionArn=arn)
        assert raised.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def _assert_pulled_files(folder: Path, rds: bytes) -> None:
    """The files the loader reads, exact, and no temporary file left."""
    assert sorted(p.name for p in folder.iterdir()) == [
        ".pull.json",
        "mock_cell_sets.json",
        "mock_experiment.json",
        "mock_plots_tables.json",
        "mock_projects.json",
        "mock_samples.json",
        "processed-matrix.r.rds.gz",
        "r.rds.gz",
    ]
    text = (folder / "mock_experiment.json").read_text()
    assert parse_json(text.encode()) == experiment_item(folder.name)
    for digits in ("0.1", "1E-7", "12345678901234567890123456789012345678", "-42.50"):
        assert f": {digits}," in text or f": {digits}\n" in text  # digit for digit
    samples = parse_json((folder / "mock_samples.json").read_bytes())
    assert samples == {"records": [samples_item(folder.name)]}
    plots = json.loads((folder / "mock_plots_tables.json").read_text())
    assert plots == {"records": []}
    assert gzip.decompress((folder / "r.rds.gz").read_bytes()) == rds
    matrix = (folder / "processed-matrix.r.rds.gz").read_bytes()
    assert gzip.decompress(matrix) == b"processed"
    assert json.loads((folder / "mock_cell_sets.json").read_text()) == CELL_SETS
    project = json.loads((folder / "mock_projects.json").read_text())
    assert sorted(project["rbac_can_write"]["SS"]) == ["user-1", "user-2"]  # typed
    assert project["projectUuid"] == {"S": project_uuid(folder.name)}


def _marks(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in folder.iterdir()
        if not p.name.startswith(".")
    }


def test_a_second_pull_writes_only_what_changed(remote: str, tmp_path: Path) -> None:
    seed(remote, "pulled-2", payload(MB, seed=2))
    env = pull_env(tmp_path, remote)
    folder = Path(env["BIOMAGE_DATA_PATH"]) / "pulled-2"
    assert cli(env, "pull", "pulled-2", "--from", ENV).returncode == 0
    first = _marks(folder)
    for path in (folder, *folder.iterdir()):  # another environment's data: ours
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path

    again = cli(env, "pull", "pulled-2", "--from", ENV)
    assert again.returncode == 0, again.stdout
    assert "wrote nothing (all unchanged)" in again.stdout
    assert _marks(folder) == first

    changed = payload(MB, seed=3)
    seed(remote, "pulled-2", changed, name="renamed")
    third = cli(env, "pull", "pulled-2", "--from", ENV)
    assert third.returncode == 0, third.stdout
    assert "wrote mock_experiment.json, r.rds.gz" in third.stdout
    now = _marks(folder)
    for unchanged in ("mock_samples.json", "mock_plots_tables.json"):
        assert now[unchanged] == first[unchanged]
    assert gzip.decompress((folder / "r.rds.gz").read_bytes()) == changed
    assert parse_json((folder / "mock_experiment.json").read_bytes())[
        "experimentName"
    ] == ("renamed")

    (folder / "r.rds.gz").write_bytes(b"edited by hand")
    fourth = cli(env, "pull", "pulled-2", "--from", ENV)
    assert "wrote r.rds.gz in" in fourth.stdout
    assert gzip.decompress((folder / "r.rds.gz").read_bytes()) == changed

    seed(remote, "pulled-2", changed, name="renamed", cell_sets={"cellSets": []})
    (folder / "processed-matrix.r.rds.gz").write_bytes(b"edited by hand")
    fifth = cli(env, "pull", "pulled-2", "--from", ENV)
    assert fifth.returncode == 0, fifth.stdout
    assert "wrote processed-matrix.r.rds.gz, mock_cell_sets.json in" in fifth.stdout
    assert json.loads((folder / "mock_cell_sets.json").read_text()) == {"cellSets": []}
    matrix = (folder / "processed-matrix.r.rds.gz").read_bytes()
    assert gzip.decompress(matrix) == b"processed"
    assert "wrote nothing" in cli(env, "pull", "pulled-2", "--from", ENV).stdout


def test_absent_project_and_objects_are_skipped_with_a_note(
    remote: str, tmp_path: Path
) -> None:
    ddb = remote_client(remote, "dynamodb")
    serialize = TypeSerializer().serialize
    experiment = {"experimentId": "lonely", "projectId": "gone"}
    ddb.put_item(TableName=f"experiments-{ENV}", Item=serialize(experiment)["M"])
    ddb.put_item(TableName=f"samples-{ENV}", Item={"experimentId": {"S": "lonely"}})
    env = pull_env(tmp_path, remote)
    result = cli(env, "pull", "lonely", "--from", ENV)
    assert result.returncode == 0, result.stdout
    assert "no project gone in projects-staging: skipped" in result.stdout
    for missing, name in (
        ("biomage-source-staging/lonely/r.rds", "r.rds.gz"),
        ("processed-matrix-staging/lonely/r.rds", "processed-matrix.r.rds.gz"),
        ("cell-sets-staging/lonely", "mock_cell_sets.json"),
    ):
        assert f"no s3://{missing}: the experiment comes without {name}" in (
            result.stdout
        )
    folder = Path(env["BIOMAGE_DATA_PATH"]) / "lonely"
    assert sorted(p.name for p in folder.iterdir()) == [
        "mock_experiment.json",
        "mock_plots_tables.json",
        "mock_samples.json",
    ]


def test_pull_refuses_clearly_and_writes_nothing(remote: str, tmp_path: Path) -> None:
    env = pull_env(tmp_path, remote)
    data = Path(env["BIOMAGE_DATA_PATH"])
    missing = cli(env, "pull", "no-such-experiment", "--from", ENV)
    assert missing.returncode == 1
    assert "no experiment no-such-experiment in experiments-staging" in (missing.stdout)
    no_profile = cli({**env, "AWS_PROFILE": "nobody"}, "pull", "x", "--from", ENV)
    assert no_profile.returncode == 1
    assert "The config profile (nobody) could not be found" in no_profile.stdout
    bad_id = cli(env, "pull", "../etc", "--from", ENV)
    assert bad_id.returncode == 1 and "not an experiment id" in bad_id.stdout
    # Real AWS (no pull endpoint) with the dummy keys of `make env`: refused
    # before any request leaves the machine.
    dummy = {k: v for k, v in env.items() if k not in ("AWS_PROFILE",)}
    dummy.update(
        INFRAMOCK_PULL_ENDPOINT="",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    refused = cli(dummy, "pull", "x", "--from", ENV)
    assert refused.returncode == 1
    assert "dummy AWS credentials (from `make env`)" in refused.stdout
    assert not data.exists() or not any(data.iterdir())


def test_remote_clients_refuse_every_write_before_sending_it(
    remote: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "reader")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "reader")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    settings = Settings.load(
        {"INFRAMOCK_PULL_ENDPOINT": remote}, env_file=tmp_path / "none"
    )
    before = remote_state(remote)
    client = Remote.connect(settings, ENV)
    with pytest.raises(RemoteWriteRefused, match="refusing PutItem"):
        client.dynamodb.put_item(
            TableName=f"experiments-{ENV}", Item={"experimentId": {"S": "x"}}
        )
    with pytest.raises(RemoteWriteRefused, match="refusing PutObject"):
        client.s3.put_object(Bucket=f"biomage-source-{ENV}", Key="x", Body=b"x")
    with pytest.raises(RemoteWriteRefused, match="refusing DeleteBucket"):
        client.s3.delete_bucket(Bucket=f"biomage-source-{ENV}")
    assert remote_state(remote) == before


@pytest.mark.parametrize(
    "goal, message",
    [
        (["pull", "FROM=staging"], "usage: make pull EXPERIMENT="),
        (["pull", "EXPERIMENT=e1"], "usage: make pull EXPERIMENT="),
        (["snapshot"], "usage: make snapshot NAME="),
        (["restore"], "usage: make restore NAME="),
    ],
)
def test_make_targets_say_what_they_need(goal: list[str], message: str) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", *goal],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode != 0
    assert message in result.stderr
