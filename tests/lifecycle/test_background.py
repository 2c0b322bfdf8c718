"""`inframock start`, `logs` and `stop` from other processes: a detached stack."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from inframock.core.probes import http_ok
from inframock.testing.harness import (
    ROOT,
    base_env,
    cli,
    port_is_free,
    spawn,
    wait_until,
)

pytestmark = pytest.mark.slow


def _env(tmp: Path, **overrides: str) -> dict[str, str]:
    env = base_env(tmp, **overrides)
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True, exist_ok=True)
    return env


def _record_pid(env: dict[str, str]) -> int:
    record = json.loads((Path(env["INFRAMOCK_STATE_DIR"]) / "stack.json").read_text())
    return int(record["pid"])


def _redis_pings(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(16).startswith(b"+PONG")


def _assert_logs_prints_the_tail(env: dict[str, str], log: Path, count: int) -> None:
    """`logs -n COUNT` prints the log's last lines as they were when it read them
    (the engine may add a summary line meanwhile)."""
    before = len(log.read_text().splitlines())
    last = cli(env, "logs", "-n", str(count))
    assert last.returncode == 0
    printed = last.stdout.splitlines()
    lines = log.read_text().splitlines()
    assert len(printed) == count
    assert any(
        printed == lines[end - count : end] for end in range(before, len(lines) + 1)
    ), (printed, lines[before - count :])


def test_start_returns_when_ready_and_logs_follow_until_stop(tmp_path: Path) -> None:
    env = _env(tmp_path)
    aws, redis_port = int(env["INFRAMOCK_AWS_PORT"]), int(env["INFRAMOCK_REDIS_PORT"])
    log = Path(env["INFRAMOCK_STATE_DIR"]) / "stack.log"
    started = cli(env, "start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "inframock is ready" in started.stdout  # the same banner as `run`
        assert "`make stop`; `make logs FOLLOW=1` follows its log" in started.stdout
        assert "running in the background" in started.stdout
        # `start` has exited; the stack answers on, in a session of its own.
        pid = _record_pid(env)
        assert os.getsid(pid) == pid
        assert http_ok(f"http://127.0.0.1:{aws}/moto-api/")
        assert _redis_pings(redis_port)
        assert "inframock is ready" in log.read_text()

        _assert_logs_prints_the_tail(env, log, 3)

        again = cli(env, "start")
        assert again.returncode == 1
        assert "already running" in again.stdout + again.stderr

        follower = spawn(
            [sys.executable, "-m", "inframock", "logs", "--follow", "--lines", "1"],
            env,
        )
        stopped = cli(env, "stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        # The follower ends by itself once the stack has stopped, with its last lines.
        out, _ = follower.communicate(timeout=30)
        assert follower.returncode == 0
        assert "inframock | stopped" in out
    finally:
        cli(env, "stop")
    assert port_is_free(aws) and port_is_free(redis_port)  # nothing left listening

    # The next start keeps the previous log as stack.log.1.
    previous = log.read_text()
    restarted = cli(env, "start")
    try:
        assert restarted.returncode == 0, restarted.stdout
        assert (log.parent / "stack.log.1").read_text() == previous
        assert "inframock | stopped" not in log.read_text()
    finally:
        assert cli(env, "stop").returncode == 0
    assert port_is_free(aws) and port_is_free(redis_port)


def test_a_closed_terminal_does_not_stop_a_started_stack(tmp_path: Path) -> None:
    """The terminal's session gets SIGHUP when it closes; the stack is not in it."""
    env = _env(tmp_path)
    aws = int(env["INFRAMOCK_AWS_PORT"])
    ready = tmp_path / "ready"
    # A terminal's shell dies of SIGHUP, even when the tests run under `nohup`
    # (an ignored signal is inherited, and sh cannot reset it).
    ignored = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        terminal = subprocess.Popen(  # pylint: disable=consider-using-with
            [
                "/bin/sh",
                "-c",
                f'"{sys.executable}" -m inframock start >/dev/null 2>&1; '
                f'touch "{ready}"; exec sleep 60',
            ],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGHUP, ignored)
    try:
        wait_until(ready.exists, 60, "`start` to return")
        os.killpg(terminal.pid, signal.SIGHUP)  # the terminal closes
        assert terminal.wait(timeout=10) == -signal.SIGHUP
        assert http_ok(f"http://127.0.0.1:{aws}/moto-api/")
        assert _record_pid(env) != terminal.pid
    finally:
        if terminal.poll() is None:
            terminal.kill()
        assert cli(env, "stop").returncode == 0
    assert port_is_free(aws)


def test_start_that_fails_says_why_with_the_log_tail(tmp_path: Path) -> None:
    env = _env(tmp_path, INFRAMOCK_REDIS_SERVER="/bin/false")
    failed = cli(env, "start")
    assert failed.returncode != 0
    assert "before it was ready" in failed.stdout + failed.stderr
    assert "stack.log" in failed.stdout + failed.stderr
    assert port_is_free(int(env["INFRAMOCK_AWS_PORT"]))
    assert not (Path(env["INFRAMOCK_STATE_DIR"]) / "stack.json").exists()


def test_start_refuses_a_busy_port_before_detaching(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = _env(tmp_path, INFRAMOCK_AWS_PORT=str(busy.getsockname()[1]))
        failed = cli(env, "start")
    assert failed.returncode != 0
    assert "INFRAMOCK_AWS_PORT" in failed.stdout + failed.stderr
    assert not (Path(env["INFRAMOCK_STATE_DIR"]) / "stack.log").exists()


def test_logs_without_a_log_says_so(tmp_path: Path) -> None:
    done = cli(_env(tmp_path), "logs", "-f")
    assert done.returncode == 0
    assert "no log yet" in done.stdout
