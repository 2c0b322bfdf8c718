"""Starting and stopping: ports, signals, a second start, and no child left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import FREED_WITHIN, assert_all_gone, children_of, redis_of
from inframock.testing.harness import (
    READY_LINE,
    ROOT,
    RunningStack,
    base_env,
    cli,
    port_is_free,
    wait_until,
)
from inframock.testing.datafolder import MB, experiment_folder, write_stored_rds

pytestmark = pytest.mark.faults


def test_sigterm_stops_everything_and_cleans_up(make_stack: Any) -> None:
    stack = make_stack().wait_ready()
    services = children_of(stack)
    assert len(services) == 2
    workdir = Path(stack.redis().config_get("dir")["dir"])
    assert workdir.is_dir() and workdir.name.startswith("inframock-")
    state = Path(stack.env["INFRAMOCK_STATE_DIR"]) / "stack.json"
    assert state.is_file()
    stack.process.send_signal(signal.SIGTERM)
    assert stack.wait_exit() == 0  # a stop asked for: no failure
    assert_all_gone(stack, services)
    assert not workdir.exists()
    assert not state.exists()


def test_sigint_exits_0(make_stack: Any) -> None:
    stack = make_stack().wait_ready()
    services = children_of(stack)
    stack.process.send_signal(signal.SIGINT)
    assert stack.wait_exit() == 0
    assert_all_gone(stack, services)


def test_stop_from_another_terminal(make_stack: Any) -> None:
    stack = make_stack().wait_ready()
    services = children_of(stack)
    result = stack.cli("stop")
    assert result.returncode == 0, result.stdout
    assert f"pid {stack.process.pid}" in result.stdout
    assert stack.wait_exit() == 0  # a stop asked for: no failure
    assert_all_gone(stack, services)
    again = stack.cli("stop")
    assert again.returncode == 0 and "no inframock stack is running" in again.stdout


def test_sigkill_of_the_supervisor_leaves_no_child(make_stack: Any) -> None:
    stack = make_stack().wait_ready()
    services = children_of(stack)
    workdir = Path(stack.redis().config_get("dir")["dir"])
    stack.process.kill()
    stack.wait_exit()
    assert_all_gone(stack, services)
    assert workdir.is_dir()  # nobody could remove it yet
    # The stale state file does not block the next start, which clears up.
    second = RunningStack(stack.env).wait_ready()
    assert not workdir.exists()
    second.stop()


def test_sigkill_of_make_run_leaves_no_process(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True)
    stack = RunningStack(env, command=["make", "--no-print-directory", "run"])
    stack.wait_ready()
    supervisor = psutil.Process(stack.process.pid).children()[0]
    services = supervisor.children()
    stack.process.kill()
    stack.wait_exit()
    wait_until(lambda: not supervisor.is_running(), FREED_WITHIN, "the supervisor")
    assert_all_gone(stack, services)


def test_second_run_says_one_is_running_with_its_pid(make_stack: Any) -> None:
    stack = make_stack().wait_ready()
    result = cli(stack.env, "run", timeout=30)
    assert result.returncode == 1
    assert f"already running (pid {stack.process.pid}" in result.stdout
    assert stack.process.poll() is None


def test_taken_port_is_named_with_its_holder_and_nothing_starts(
    tmp_path: Path,
) -> None:
    env = base_env(tmp_path)
    taken = int(env["INFRAMOCK_REDIS_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        result = cli(env, "run", timeout=30)
    assert result.returncode == 1
    assert f"port {taken} on 127.0.0.1 is already in use" in result.stdout
    assert f"(pid {os.getpid()})" in result.stdout
    assert "INFRAMOCK_REDIS_PORT" in result.stdout
    assert port_is_free(int(env["INFRAMOCK_AWS_PORT"]))


def test_a_dying_service_stops_the_stack_with_its_reason(make_stack: Any) -> None:
    stack = make_stack().wait_ready()
    services = children_of(stack)
    redis_of(services).kill()
    assert stack.wait_exit() == 1
    assert "redis (valkey" in stack.output and "was killed by SIGKILL" in stack.output
    assert_all_gone(stack, services)


def test_reload_and_status_without_a_stack_say_how_to_start_one(
    tmp_path: Path,
) -> None:
    env = base_env(tmp_path)
    reload = cli(env, "reload-data")
    assert reload.returncode == 1
    assert "no inframock stack answers" in reload.stdout and "make run" in reload.stdout
    status = cli(env, "status")
    assert status.returncode == 1
    assert "down" in status.stdout


def test_help_lists_every_make_target() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for target in ("run", "stop", "status", "reload-data", "test", "check", "fmt"):
        assert f"make {target} " in result.stdout
    assert (
        result.stdout
        == subprocess.run(
            ["make", "--no-print-directory"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def test_sigterm_during_a_long_load_stops_at_once(
    make_stack: Any, tmp_path: Path
) -> None:
    data = tmp_path / "big"
    folder = experiment_folder(data, "big")
    write_stored_rds(folder, 200 * MB)
    stack = make_stack(data)
    wait_until(
        lambda: "big/r.rds.gz → s3://" in stack.output, 60, "the upload to start"
    )
    assert "started (" in stack.output  # plain progress lines when not a terminal
    services = children_of(stack)
    stack.process.send_signal(signal.SIGTERM)
    assert stack.wait_exit(timeout=FREED_WITHIN) == 0
    assert_all_gone(stack, services)
    assert READY_LINE not in stack.output
