"""The Node SDKs the Cellenics API of 2021 pins, against a real stack.

`tests/clients/` pins aws-sdk 2.847.0 and ioredis 4.17.3 (package-lock.json);
`npm ci` installs them once per session into `tests/clients/node_modules`.
`cellenics_clients.js` makes the API's calls, with aws-sdk configured as the
API does in development, and prints one JSON document of what each call saw;
these tests assert on it and, where it matters, read back with Python clients.
Skipped when `node` or `npm` is not on PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from inframock.testing.harness import RunningStack
from tests.helpers import GOOD, RDS_BYTES, SOURCE, npm_ci

pytestmark = pytest.mark.node

CLIENTS = Path(__file__).resolve().parent
NODE = shutil.which("node")
EXPERIMENT = "node-client-check"
"""The id the script names its objects, items, keys and channel after."""

Results = dict[str, dict[str, Any]]


@pytest.fixture(scope="session", name="node_clients")
def node_clients_fixture() -> Path:
    """`tests/clients` with its pinned packages installed by `npm ci`."""
    return npm_ci(CLIENTS, "the Node client tests")


def run_checks(clients: Path, stack: RunningStack, *checks: str) -> Results:
    """Run `cellenics_clients.js` (all checks, or `checks`) against `stack`."""
    assert NODE is not None
    result = subprocess.run(
        [NODE, "cellenics_clients.js", *checks],
        cwd=clients,
        # Nothing of the developer's AWS settings: only the stack is reached.
        env={
            "PATH": os.environ["PATH"],
            "INFRAMOCK_TEST_ENDPOINT": stack.endpoint,
            "INFRAMOCK_TEST_REDIS_PORT": str(stack.redis_port),
            "INFRAMOCK_TEST_ID": EXPERIMENT,
            "INFRAMOCK_TEST_REGISTERED": f"{SOURCE}/{GOOD}/r.rds",
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    results: Results = json.loads(result.stdout)  # the document and nothing else
    return results


@pytest.fixture(scope="module", name="results")
def results_fixture(node_clients: Path, session_stack: RunningStack) -> Results:
    """What every check saw, from one run of the script."""
    return run_checks(node_clients, session_stack)


def passed(results: Results, check: str) -> dict[str, Any]:
    """The check's result, which must have succeeded."""
    result = results[check]
    assert result["ok"] is True, result
    return result


def test_aws_sdk_v2_uploads_a_megabyte_and_more_and_reads_it_back(
    results: Results, session_stack: RunningStack
) -> None:
    # aws-sdk v2 sends these with `Expect: 100-continue`: the double 100 of a
    # plain moto server made this fail with `write after end`.
    result = passed(results, "s3_large_put_get")
    assert result["sent_bytes"] > 1024 * 1024
    assert result["got_bytes"] == result["sent_bytes"]
    assert result["got_sha256"] == result["sent_sha256"]
    stored = session_stack.client("s3").get_object(
        Bucket="cell-sets-development", Key=EXPERIMENT
    )["Body"]
    assert hashlib.sha256(stored.read()).hexdigest() == result["sent_sha256"]


def test_presigned_get_url_is_path_style_on_the_endpoint_and_serves_the_object(
    results: Results, session_stack: RunningStack
) -> None:
    result = passed(results, "s3_presigned_get")
    assert result["url_prefix"] == (
        f"{session_stack.endpoint}/worker-results-development/{EXPERIMENT}/presigned"
    )
    assert result["status"] == 200
    assert result["body_matches"] is True


def test_fifo_send_without_dedup_id_and_receive_on_the_hardcoded_queue_url(
    results: Results,
) -> None:
    result = passed(results, "sqs_fifo")
    assert result["message_id"]
    assert result["received"] is True


def test_dynamodb_converter_round_trips_an_item_with_a_string_set(
    results: Results, session_stack: RunningStack
) -> None:
    result = passed(results, "dynamodb_marshall")
    assert result["sent_set_type"] == result["stored_set_type"] == "SS"
    assert result["stored_set_values"] == ["user-a", "user-b"]
    assert result["stored_rest"] == {
        "experimentId": EXPERIMENT,
        "experimentName": "node client check",
        "meta": {"organism": "mmusculus", "cellCount": 1234, "ratio": 0.25},
        "sampleIds": ["s1", "s2"],
    }
    item = session_stack.client("dynamodb").get_item(
        TableName="experiments-development", Key={"experimentId": {"S": EXPERIMENT}}
    )["Item"]
    assert sorted(item["rbac_can_write"]["SS"]) == ["user-a", "user-b"]


def test_samples_query_by_project_on_the_gsi(results: Results) -> None:
    result = passed(results, "dynamodb_samples_gsi_query")
    assert result["items"] == [
        {
            "experimentId": EXPERIMENT,
            "projectUuid": f"project-{EXPERIMENT}",
            "samples": {"ids": ["sample-1"], "sample-1": {"name": "one"}},
        }
    ]


def test_ioredis_setex_and_get(results: Results, session_stack: RunningStack) -> None:
    result = passed(results, "ioredis_setex_get")
    assert result["set"] == "OK"
    assert result["value"] == "cached result"
    assert 0 < result["ttl"] <= 60
    assert session_stack.redis().get(f"{EXPERIMENT}:work-result") == b"cached result"


def test_ioredis_publish_reaches_a_subscriber_on_another_connection(
    results: Results,
) -> None:
    result = passed(results, "ioredis_pubsub")
    assert result["subscribed"] == 1
    assert result["receivers"] == 1
    assert result["from"] == f"{EXPERIMENT}:experiment-updates"
    assert result["message"] == "pipeline finished"


def test_aws_sdk_v2_sees_a_cached_r_rds_as_it_sees_a_put_one(
    results: Results, session_stack: RunningStack
) -> None:
    # The loader had the engine serve this r.rds from its cache file
    # (engine/object_files.py); aws-sdk v2 puts the same bytes again.
    seen = passed(results, "s3_registered_like_put")
    assert seen["registered"] == seen["put"]
    body = session_stack.client("s3").get_object(Bucket=SOURCE, Key=f"{GOOD}/r.rds")
    assert seen["registered"]["get"]["ContentLength"] == RDS_BYTES
    assert (
        seen["registered"]["get"]["sha256"]
        == hashlib.sha256(body["Body"].read()).hexdigest()
    )
