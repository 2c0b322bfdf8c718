"""The everyday commands as a user of LocalStack's or Compose's CLI expects
them: `make logs` prints and returns, client commands reach the stack that
runs, `make status` fits a screen, and a killed stack is said in one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from inframock.testing.datafolder import experiment_folder, write_json
from inframock.testing.harness import (
    ROOT,
    base_env,
    cli,
    free_port,
    make,
    spawn,
    wait_until,
)

pytestmark = pytest.mark.slow

SCREEN = 24
"""Lines of a terminal: what the default `make status` must fit in."""


def _two_experiments(data: Path) -> None:
    for experiment in ("exp-a", "exp-b"):
        folder = experiment_folder(data, experiment)
        write_json(folder, "mock_experiment.json", {"experimentId": experiment})
        write_json(folder, "mock_samples.json", {"experimentId": experiment})


def test_make_logs_prints_and_returns_and_follow_follows(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True)
    started = cli(env, "start")
    try:
        assert started.returncode == 0, started.stdout
        assert "`make logs FOLLOW=1` follows its log" in started.stdout
        assert "`make logs -f`" not in started.stdout  # -f is make's own option
        status = cli(env, "status")
        assert "started by `make start`, pid " in status.stdout, status.stdout

        printed = make(env, "logs", timeout=60)  # `make logs | head` returns
        assert printed.returncode == 0, printed.stderr
        assert "inframock is ready" in printed.stdout
        assert make(env, "logs", "LINES=2").stdout.count("\n") == 2

        follower = spawn(
            ["make", "-s", "--no-print-directory", "logs", "FOLLOW=1"], env
        )
        assert follower.stdout is not None
        for line in follower.stdout:  # the log so far, then it keeps following
            if "inframock is ready" in line:
                break
        assert follower.poll() is None
        assert cli(env, "stop").returncode == 0
        rest, _ = follower.communicate(timeout=60)
        assert follower.returncode == 0
        assert "inframock | stopped" in rest
    finally:
        cli(env, "stop")


def test_client_commands_use_the_running_stacks_endpoints(
    make_stack: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _two_experiments(data)
    stack = make_stack(data).wait_ready()
    # A second terminal: the same checkout (state folder), other port settings.
    other = dict(
        stack.env,
        INFRAMOCK_AWS_PORT=str(free_port()),
        INFRAMOCK_REDIS_PORT=str(free_port()),
    )
    exports = subprocess.run(
        ["make", "-s", "--no-print-directory", "env"],
        cwd=ROOT,
        env=other,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"export AWS_ENDPOINT_URL={stack.endpoint}\n" in exports.stdout
    assert f"export REDIS_URL=redis://127.0.0.1:{stack.redis_port}\n" in exports.stdout
    said = exports.stderr.strip().splitlines()
    assert len(said) == 1 and "using the running stack" in said[0], exports.stderr
    assert other["INFRAMOCK_AWS_PORT"] in said[0]  # what the settings say

    status = subprocess.run(
        [*cli_command(), "status", "--json"],
        cwd=ROOT,
        env=other,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    document = json.loads(status.stdout)  # the note went to stderr
    assert document["services"][0]["address"] == stack.endpoint
    assert set(document["experiments"]) == {"exp-a", "exp-b"}

    write_json(data / "exp-b", "mock_plots_tables.json", {"records": []})
    reloaded = cli(other, "reload-data")
    assert reloaded.returncode == 0, reloaded.stdout
    assert "using the running stack" in reloaded.stderr

    same = make(stack.env, "env")  # the settings agree: nothing to say
    assert same.returncode == 0 and same.stderr == ""


def cli_command() -> list[str]:
    """`python -m inframock` of this virtualenv, for stdout and stderr apart."""
    return [sys.executable, "-m", "inframock"]


def test_status_fits_a_screen_and_verbose_shows_every_table(
    make_stack: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _two_experiments(data)
    stack = make_stack(data).wait_ready()
    short = stack.cli("status", COLUMNS="80")
    assert short.returncode == 0, short.stdout
    lines = short.stdout.splitlines()
    assert len(lines) <= SCREEN, short.stdout
    assert f"started by `make run`, pid {stack.process.pid}" in short.stdout
    assert [line for line in lines if "experiment exp-" in line] == [
        "inframock | experiment exp-a: 2 items in 2 tables, 0 objects (0 B)",
        "inframock | experiment exp-b: 2 items in 2 tables, 0 objects (0 B)",
    ]
    assert any(line.startswith(f"aws    up    {stack.endpoint}") for line in lines)
    verbose = make(stack.env, "status", "VERBOSE=1")
    assert verbose.returncode == 0, verbose.stdout
    for table in ("buckets", "pipeline runs", "0 waiting, 0 in flight"):
        assert table in verbose.stdout
    assert len(verbose.stdout.splitlines()) > len(lines)


def test_a_killed_stack_is_said_in_one_line_by_status_and_run(
    make_stack: Any,
) -> None:
    stack = make_stack().wait_ready()
    supervisor = psutil.Process(stack.process.pid)
    services = supervisor.children()
    supervisor.send_signal(signal.SIGKILL)
    stack.wait_exit()
    wait_until(
        lambda: not any(p.is_running() and p.status() != "zombie" for p in services),
        60,
        "the killed stack's services",
    )
    record = Path(stack.env["INFRAMOCK_STATE_DIR"]) / "stack.json"
    assert record.exists()  # a SIGKILL leaves it behind

    status = cli(stack.env, "status")
    assert status.returncode == 1
    found = [line for line in status.stdout.splitlines() if "no longer runs" in line]
    assert len(found) == 1, status.stdout
    assert f"(pid {stack.process.pid}, `make run`)" in found[0]
    assert "its record is cleared: `make run`" in found[0]
    assert not record.exists()

    # The same again, said by `run` before it starts anew.
    record.write_text(
        json.dumps(
            {
                "pid": stack.process.pid,
                "started": 1.0,
                "aws_endpoint": stack.endpoint,
                "redis_url": f"redis://127.0.0.1:{stack.redis_port}",
                "services": {},
                "detached": True,
            }
        )
    )
    again = make_stack(Path(stack.env["BIOMAGE_DATA_PATH"]), **_ports(stack.env))
    again.wait_ready()
    assert any(
        "no longer runs" in line and "`make start`" in line for line in again.lines
    ), again.output


def _ports(env: dict[str, str]) -> dict[str, str]:
    names = ("INFRAMOCK_AWS_PORT", "INFRAMOCK_REDIS_PORT", "INFRAMOCK_POSTGRES_PORT")
    return {name: env[name] for name in names}
