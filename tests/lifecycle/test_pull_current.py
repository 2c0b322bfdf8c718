"""`make pull` with INFRAMOCK_PROFILE=current: today's suffixed buckets.

The remote side is a moto server of its own on a free port holding an
experiment as today's Cellenics environments do: objects in
`biomage-source-staging-<account>`, `processed-matrix-staging-<account>` and
`cell-sets-staging-<account>`, and no DynamoDB. The pull writes the current
profile's data-folder names, which a `current` stack then loads.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from inframock.features.pull.remote import PullError, remote_bucket
from inframock.testing.harness import cli, standalone_moto
from tests.helpers import pull_env, remote_client

pytestmark = pytest.mark.slow

ENV = "staging"
STAGING_ACCOUNT = "242905224710"
STS_ACCOUNT = "000000000000"
"""The account the remote moto's STS reports for any credentials."""
CELL_SETS = {"cellSets": [{"key": "louvain", "children": [{"key": "c0"}]}]}
RDS = b"today's source matrix " * 5000
MATRIX = b"processed " * 3000


def bucket(base: str, account: str) -> str:
    """How iac names a bucket of staging in `account`."""
    return f"{base}-{ENV}-{account}"


@pytest.fixture(scope="module", name="remote")
def remote_fixture() -> Iterator[str]:
    """A second moto server: `staging` in two accounts, one experiment in each."""
    with standalone_moto() as endpoint:
        s3 = remote_client(endpoint, "s3")
        for account, experiment in (
            (STAGING_ACCOUNT, "today-1"),
            (STS_ACCOUNT, "today-2"),
        ):
            for base in ("biomage-source", "processed-matrix", "cell-sets"):
                s3.create_bucket(
                    Bucket=bucket(base, account),
                    CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
                )
            s3.put_object(
                Bucket=bucket("biomage-source", account),
                Key=f"{experiment}/r.rds",
                Body=RDS,
            )
            s3.put_object(
                Bucket=bucket("processed-matrix", account),
                Key=f"{experiment}/r.rds",
                Body=MATRIX,
            )
            s3.put_object(
                Bucket=bucket("cell-sets", account),
                Key=experiment,
                Body=json.dumps(CELL_SETS).encode(),
            )
        yield endpoint


def remote_state(endpoint: str) -> list[tuple[str, str, str]]:
    """Every bucket's keys and ETags: what a pull must leave as it found it."""
    s3 = remote_client(endpoint, "s3")
    return sorted(
        (name, obj["Key"], obj["ETag"])
        for name in (b["Name"] for b in s3.list_buckets()["Buckets"])
        for obj in s3.list_objects_v2(Bucket=name).get("Contents", [])
    )


def test_remote_bucket_names_follow_each_profiles_buckets() -> None:
    assert remote_bucket("biomage-source-development", ENV, "1") == (
        "biomage-source-staging"
    )
    assert remote_bucket("cell-sets-development-000000000000", ENV, "123") == (
        "cell-sets-staging-123"
    )
    with pytest.raises(PullError, match="not named"):
        remote_bucket("some-bucket", ENV, "123")


def test_pull_writes_the_current_profiles_files_and_a_current_stack_loads_them(
    remote: str, tmp_path: Path, make_stack: Any
) -> None:
    before = remote_state(remote)
    env = pull_env(tmp_path, remote, INFRAMOCK_PROFILE="current")
    result = cli(env, "pull", "today-1", "--from", ENV, "--account", STAGING_ACCOUNT)
    assert result.returncode == 0, result.stdout
    assert remote_state(remote) == before
    assert f"from {ENV}, account {STAGING_ACCOUNT}" in result.stdout
    assert "for profile current" in result.stdout
    assert "keeps experiments in PostgreSQL" in result.stdout
    folder = Path(env["BIOMAGE_DATA_PATH"]) / "today-1"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "biomage-source.r.rds.gz",
        "mock_cell_sets.json",
        "processed-matrix.r.rds.gz",
    ]
    assert gzip.decompress((folder / "biomage-source.r.rds.gz").read_bytes()) == RDS
    matrix = (folder / "processed-matrix.r.rds.gz").read_bytes()
    assert gzip.decompress(matrix) == MATRIX
    assert json.loads((folder / "mock_cell_sets.json").read_text()) == CELL_SETS
    again = cli(env, "pull", "today-1", "--from", ENV, "--account", STAGING_ACCOUNT)
    assert again.returncode == 0 and "wrote nothing" in again.stdout

    stack = make_stack(
        data=Path(env["BIOMAGE_DATA_PATH"]), INFRAMOCK_PROFILE="current"
    ).wait_ready()
    s3 = stack.client("s3")
    for local, key, body in (
        ("biomage-source-development-000000000000", "today-1/r.rds", RDS),
        ("processed-matrix-development-000000000000", "today-1/r.rds", MATRIX),
        ("cell-sets-development-000000000000", "today-1", json.dumps(CELL_SETS)),
    ):
        loaded = s3.get_object(Bucket=local, Key=key)["Body"].read()
        assert loaded == (body.encode() if isinstance(body, str) else body)


def test_without_an_account_the_credentials_account_names_the_buckets(
    remote: str, tmp_path: Path
) -> None:
    env = pull_env(tmp_path, remote, INFRAMOCK_PROFILE="current")
    result = cli(env, "pull", "today-2", "--from", ENV)
    assert result.returncode == 0, result.stdout
    assert f"account {STS_ACCOUNT}" in result.stdout
    folder = Path(env["BIOMAGE_DATA_PATH"]) / "today-2"
    assert gzip.decompress((folder / "biomage-source.r.rds.gz").read_bytes()) == RDS
    # today-1 lives in the other account: not found there.
    other = cli(env, "pull", "today-1", "--from", ENV)
    assert other.returncode == 1
    assert f"s3://biomage-source-{ENV}-{STS_ACCOUNT}/today-1/r.rds" in other.stdout


def test_pull_refuses_clearly_and_writes_nothing(remote: str, tmp_path: Path) -> None:
    env = pull_env(tmp_path, remote, INFRAMOCK_PROFILE="current")
    data = Path(env["BIOMAGE_DATA_PATH"])
    missing = cli(env, "pull", "nowhere", "--from", ENV, "--account", STAGING_ACCOUNT)
    assert missing.returncode == 1
    assert f"no experiment nowhere in {ENV}: none of" in missing.stdout
    bad = cli(env, "pull", "today-1", "--from", ENV, "--account", "12ab")
    assert bad.returncode == 1 and "'12ab' is not an AWS account id" in bad.stdout
    assert not data.exists() or not any(data.iterdir())
