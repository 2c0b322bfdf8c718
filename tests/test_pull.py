"""`make pull`: another environment (a second moto server) into the data folder.

The remote side is a moto server of its own on a free port, seeded here with
`experiments-staging`, `samples-staging` and `biomage-source-staging`, exactly
as a Cellenics environment holds an experiment.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from inframock.data.dataset import parse_json
from inframock.pull import Remote, RemoteWriteRefused
from inframock.settings import Settings
from inframock.testing.harness import ROOT, base_env, cli, standalone_moto
from inframock.testing.datafolder import MB, payload

ENV = "staging"
ARNS = "arn:aws:states:eu-west-1:000000000000:stateMachine:biomage-qc-staging"


@pytest.fixture(scope="module", name="remote")
def remote_fixture() -> Iterator[str]:
    """A second moto server, standing in for the `staging` environment."""
    with standalone_moto() as endpoint:
        _provision(endpoint)
        yield endpoint


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="remote",
        aws_secret_access_key="remote",
    )


def _provision(endpoint: str) -> None:
    ddb, s3 = _client(endpoint, "dynamodb"), _client(endpoint, "s3")
    for table in (f"experiments-{ENV}", f"samples-{ENV}"):
        ddb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "experimentId", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "experimentId", "AttributeType": "S"}
            ],
        )
    s3.create_bucket(
        Bucket=f"biomage-source-{ENV}",
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
            "pipeline": {"stateMachineArn": ARNS, "executionArn": ARNS + ":run-1"},
            "gem2s": {
                "paramsHash": "7c1f",
                "stateMachineArn": ARNS,
                "executionArn": ARNS + ":run-2",
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
        "projectUuid": "c4b5",
        "samples": {"s1": {"name": "WT", "fileNames": ["matrix.mtx.gz"]}},
    }


def seed(endpoint: str, experiment: str, rds: bytes, name: str = "pulled") -> None:
    """Put one experiment on the remote side (again: a new version)."""
    ddb, s3 = _client(endpoint, "dynamodb"), _client(endpoint, "s3")
    serialize = TypeSerializer().serialize
    for table, item in (
        (f"experiments-{ENV}", experiment_item(experiment, name)),
        (f"samples-{ENV}", samples_item(experiment)),
    ):
        ddb.put_item(TableName=table, Item=serialize(item)["M"])
    s3.put_object(Bucket=f"biomage-source-{ENV}", Key=f"{experiment}/r.rds", Body=rds)


def remote_state(endpoint: str) -> dict[str, Any]:
    """Everything the remote side holds: tables, items, buckets, object versions."""
    ddb, s3 = _client(endpoint, "dynamodb"), _client(endpoint, "s3")
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


def pull_env(tmp: Path, remote: str) -> dict[str, str]:
    """The CLI's environment: the remote endpoint, credentials from AWS_PROFILE."""
    config = tmp / "aws-config"
    config.write_text(
        "[profile staging-reader]\nregion = eu-west-1\n"
        "aws_access_key_id = reader\naws_secret_access_key = reader\n"
    )
    return base_env(
        tmp,
        INFRAMOCK_PULL_ENDPOINT=remote,
        AWS_PROFILE="staging-reader",
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-credentials"),
    )


def pulled_experiment(experiment: str) -> dict[str, Any]:
    """The experiment item as a pull writes it: without its pipelines' ARNs."""
    expected = experiment_item(experiment)
    del expected["meta"]["pipeline"], expected["meta"]["gem2s"]
    return expected


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
    assert "left out meta.pipeline" in result.stdout
    _assert_pulled_files(Path(env["BIOMAGE_DATA_PATH"]) / "pulled-1", rds)

    stack = make_stack(data=Path(env["BIOMAGE_DATA_PATH"])).wait_ready()
    deserialize = TypeDeserializer().deserialize
    for table, item in (
        ("experiments-development", pulled_experiment("pulled-1")),
        ("samples-development", samples_item("pulled-1")),
    ):
        loaded = stack.client("dynamodb").get_item(
            TableName=table, Key={"experimentId": {"S": "pulled-1"}}
        )["Item"]
        assert {k: deserialize(v) for k, v in loaded.items()} == item
    obj = stack.client("s3").get_object(
        Bucket="biomage-source-development", Key="pulled-1/r.rds"
    )
    assert obj["Body"].read() == rds


def _assert_pulled_files(folder: Path, rds: bytes) -> None:
    """The four files the loader reads, exact, and no temporary file left."""
    assert sorted(p.name for p in folder.iterdir()) == [
        ".pull.json",
        "mock_experiment.json",
        "mock_plots_tables.json",
        "mock_samples.json",
        "r.rds.gz",
    ]
    text = (folder / "mock_experiment.json").read_text()
    assert parse_json(text.encode()) == pulled_experiment(folder.name)
    for digits in ("0.1", "1E-7", "12345678901234567890123456789012345678", "-42.50"):
        assert f": {digits}," in text or f": {digits}\n" in text  # digit for digit
    samples = parse_json((folder / "mock_samples.json").read_bytes())
    assert samples == {"records": [samples_item(folder.name)]}
    plots = json.loads((folder / "mock_plots_tables.json").read_text())
    assert plots == {"records": []}
    assert gzip.decompress((folder / "r.rds.gz").read_bytes()) == rds


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
    assert "wrote r.rds.gz" in fourth.stdout
    assert gzip.decompress((folder / "r.rds.gz").read_bytes()) == changed


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
