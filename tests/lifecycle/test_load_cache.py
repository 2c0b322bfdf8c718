"""Loaded `r.rds` files cost nothing on a restart: no gunzip, no upload.

Real stacks (`make run`) with the engine's access log on (`INFRAMOCK_LOG=http`)
so every object PUT is a line to count. The first start gunzips into the cache
under the state folder and registers the cached file with the engine; a
restart with the same files finds the cache entry by a stat and registers it
again. The bytes, the ETag and the processed-matrix copy are checked over S3;
a plain moto (an engine that is not ours) still gets the bytes uploaded.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from inframock.features.seed.seed import seed
from inframock.core.settings import Settings
from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    write_json,
    write_rds,
)
from inframock.testing.harness import RunningStack, base_env, standalone_moto

pytestmark = pytest.mark.slow

BODY = payload(12 * 1024 * 1024 + 5, seed=1414)
EXPERIMENT = "cached-experiment"
SOURCE_KEY = ("biomage-source-development", f"{EXPERIMENT}/r.rds")
MATRIX_KEY = ("processed-matrix-development", f"{EXPERIMENT}/r.rds")
OBJECT_PUT = re.compile(r'"PUT /[^/ ?]+/[^ ]+ HTTP')
"""An access-log line of an object upload (PutObject or UploadPart)."""
REGISTRATION = '"POST /_inframock/objects HTTP'


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    folder = experiment_folder(data, EXPERIMENT)
    write_json(folder, "mock_experiment.json", {"experimentId": EXPERIMENT})
    write_rds(folder, BODY)
    return data


def _object(stack: RunningStack, bucket: str, key: str) -> dict[str, Any]:
    got = stack.client("s3").get_object(Bucket=bucket, Key=key)
    return {
        "body": got["Body"].read(),
        "etag": got["ETag"],
        "size": got["ContentLength"],
    }


def _uploads(stack: RunningStack) -> list[str]:
    return [line for line in stack.lines if OBJECT_PUT.search(line)]


def test_a_restart_with_unchanged_files_uploads_nothing(
    make_stack: Callable[..., RunningStack], tmp_path: Path
) -> None:
    data = _data(tmp_path)
    expected = {
        "body": BODY,
        "etag": f'"{hashlib.md5(BODY).hexdigest()}"',
        "size": len(BODY),
    }
    first = make_stack(data, INFRAMOCK_LOG="http").wait_ready()
    assert _uploads(first) == []  # even the first load: the cached file is served
    assert sum(REGISTRATION in line for line in first.lines) == 2
    assert _object(first, *SOURCE_KEY) == expected
    assert _object(first, *MATRIX_KEY) == expected
    assert "gunzipped" in first.output
    first.stop()

    again = make_stack(data, INFRAMOCK_LOG="http").wait_ready()
    assert _uploads(again) == []
    assert sum(REGISTRATION in line for line in again.lines) == 2
    assert (
        f"{EXPERIMENT}/r.rds.gz → s3://{SOURCE_KEY[0]}/{SOURCE_KEY[1]}" in again.output
    )
    assert "cached)" in again.output and "gunzipped)" not in again.output
    assert _object(again, *SOURCE_KEY) == expected
    assert _object(again, *MATRIX_KEY) == expected
    cached = list((tmp_path / "state" / "objects").glob("*.rds"))
    assert [p.read_bytes() == BODY for p in cached] == [True]
    again.stop()


def test_a_changed_file_is_gunzipped_again_and_served_as_a_new_version(
    make_stack: Callable[..., RunningStack], tmp_path: Path
) -> None:
    data = _data(tmp_path)
    make_stack(data).wait_ready().stop()
    changed = payload(1024 * 1024, seed=15)
    write_rds(data / EXPERIMENT, changed)
    stack = make_stack(data).wait_ready()
    assert _object(stack, *SOURCE_KEY)["body"] == changed
    assert _object(stack, *MATRIX_KEY)["body"] == changed
    stack.stop()


def test_an_engine_that_is_not_ours_gets_the_bytes_uploaded(tmp_path: Path) -> None:
    data = _data(tmp_path)
    with standalone_moto() as endpoint:
        env = base_env(
            tmp_path, BIOMAGE_DATA_PATH=str(data), INFRAMOCK_AWS_ENDPOINT=endpoint
        )
        settings = Settings.load(env, env_file=tmp_path / "none")
        result = seed(settings)
        assert result.load is not None and result.ok
        stack = RunningStack.__new__(RunningStack)  # only its S3 client
        stack.endpoint, stack.env = endpoint, env
        for bucket, key in (SOURCE_KEY, MATRIX_KEY):
            assert _object(stack, bucket, key)["body"] == BODY
