"""`make env` in a clean shell, and `make status` (table and --json) on a real stack."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from inframock.testing.harness import ROOT, RunningStack, base_env, cli
from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    plot_record,
    write_json,
)
from inframock.testing.datafolder import write_rds

pytestmark = pytest.mark.slow

PLOTS = 8
"""300 kB plots: 2.4 MB in one table, so a scan needs three pages."""
RDS_BYTES = 100_000
LISTED = 1005
"""Objects under one prefix: more than one S3 listing page (1000)."""


@pytest.fixture(scope="module", name="stack")
def stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack with two experiments: exp-a has plots over several pages and an r.rds."""
    tmp = tmp_path_factory.mktemp("status")
    data = tmp / "data"
    for experiment in ("exp-a", "exp-b"):
        folder = experiment_folder(data, experiment)
        write_json(folder, "mock_experiment.json", {"experimentId": experiment})
        write_json(folder, "mock_samples.json", {"experimentId": experiment})
    plots = [plot_record("exp-a", f"plot-{i}", 300_000) for i in range(PLOTS)]
    write_json(data / "exp-a", "mock_plots_tables.json", {"records": plots})
    write_rds(data / "exp-a", payload(RDS_BYTES))
    stack = RunningStack(base_env(tmp, BIOMAGE_DATA_PATH=str(data))).wait_ready()
    yield stack
    stack.stop()


def test_env_exports_reach_the_stack_from_a_clean_shell(
    stack: RunningStack, tmp_path: Path
) -> None:
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "aws").is_file(), "awscli (requirements-dev.txt) is missing"
    clean = {  # nothing of the test's environment: no AWS_*, no proxies, no HOME
        "PATH": f"{venv_bin}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "INFRAMOCK_AWS_PORT": str(stack.aws_port),
        "INFRAMOCK_REDIS_PORT": str(stack.redis_port),
    }
    script = (
        'eval "$(python -m inframock env)" && '
        "aws s3 ls s3://biomage-source-development/ && "
        "python -c 'import os, redis; "
        'print("redis", redis.Redis.from_url(os.environ["REDIS_URL"]).ping())\''
    )
    result = subprocess.run(
        ["bash", "-c", script],
        env=clean,
        cwd=tmp_path,  # no .env of a developer's checkout
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "PRE exp-a/" in result.stdout
    assert "redis True" in result.stdout


def _generate(stack: RunningStack) -> None:
    """Objects under prefixes, a bare-id object, others; a queue with one in flight."""
    s3 = stack.client("s3")
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(
                    Bucket="processed-matrix-development",
                    Key=f"exp-b/part-{i:04d}",
                    Body=b"0123456789",
                ),
                range(LISTED),
            )
        )
    s3.put_object(Bucket="cell-sets-development", Key="exp-a", Body=b"{}")
    s3.put_object(Bucket="worker-results-development", Key="a-hash", Body=b"12345")
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName="development-queue.fifo")["QueueUrl"]
    for group in ("one", "two"):
        sqs.send_message(QueueUrl=url, MessageBody=group, MessageGroupId=group)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=300)


def test_status_reports_every_page_prefix_queue_and_subscription(
    stack: RunningStack,
) -> None:
    _generate(stack)
    result = stack.cli("status", "--json")
    assert result.returncode == 0, result.stdout
    status = json.loads(result.stdout)  # the document and nothing else
    assert status["healthy"] is True and not status["missing"]
    exp_a, exp_b = status["experiments"]["exp-a"], status["experiments"]["exp-b"]
    assert exp_a["items"] == {
        "experiments-development": 1,
        "samples-development": 1,
        "projects-development": 0,
        "plots-tables-development": PLOTS,
    }
    assert exp_a["objects"]["biomage-source-development"] == {
        "objects": 1,
        "bytes": RDS_BYTES,
    }
    assert exp_a["objects"]["cell-sets-development"] == {"objects": 1, "bytes": 2}
    assert exp_b["objects"]["processed-matrix-development"] == {
        "objects": LISTED,
        "bytes": 10 * LISTED,
    }
    assert exp_b["objects"]["biomage-source-development"]["objects"] == 0
    worker_results = status["buckets"]["worker-results-development"]
    assert worker_results == {"versioning": "off", "usage": {"objects": 1, "bytes": 5}}
    assert status["buckets"]["biomage-source-development"]["versioning"] == "Enabled"
    assert status["queue"] == {
        "name": "development-queue.fifo",
        "visible": 1,
        "in_flight": 1,
        "delayed": 0,
    }
    api = stack.env["BIOMAGE_API_URL"]
    assert sorted(
        (s["endpoint"], json.loads(s["filter_policy"]), s["confirmed"])
        for s in status["topic"]["subscriptions"]
    ) == [
        (f"{api}/v1/gem2sResults", {"type": ["GEM2SResponse"]}, True),
        (f"{api}/v1/pipelineResults", {"type": ["PipelineResponse"]}, True),
        (f"{api}/v1/workResults", {"type": ["WorkResponse"]}, True),
    ]
    _check_services(status["services"])
    table = stack.cli("status", "--verbose")  # the tables (issue 21)
    assert table.returncode == 0, table.stdout
    row = next(l for l in table.stdout.splitlines() if l.strip().startswith("exp-b"))
    assert f"{LISTED} objects, 10.1 kB" in row
    assert "1 waiting, 1 in flight, 0 delayed" in table.stdout


def _check_services(services: list[dict[str, Any]]) -> None:
    """Each service's pid is its live process, with a real uptime and memory."""
    by_name = {s["name"]: s for s in services}
    assert set(by_name) == {"aws", "redis"}
    for name, binary in (
        ("aws", "inframock.engine"),
        ("redis", "-server"),
    ):
        service = by_name[name]
        assert service["up"] is True
        command = " ".join(psutil.Process(service["pid"]).cmdline())
        assert binary in command
        assert 0 < service["uptime_seconds"] < 600
        assert service["memory_bytes"] > 1_000_000
    assert by_name["aws"]["version"] == "moto 5.2.5"


def test_status_json_of_a_stopped_stack_says_so_and_fails(tmp_path: Path) -> None:
    result = cli(base_env(tmp_path), "status", "--json")
    assert result.returncode == 1
    status = json.loads(result.stdout)
    assert status["healthy"] is False
    assert [s["up"] for s in status["services"]] == [False, False]
    assert "does not answer" in status["problem"]
