"""A start right after the previous stack was killed waits for it to be gone.

Killing `make run` (kill -9) has its supervisor stop the stack (SIGTERM
through PR_SET_PDEATHSIG), and killing the supervisor itself leaves its
children exiting the same way. A `run` in that moment says the previous
stack is stopping, waits for it, and comes up, rather than calling it
running ("Use it") or finding its ports taken. So that the moment lasts
until the new run has seen it, the stopping process is held (SIGSTOP) and
let go (SIGCONT) once the new run says it waits.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from inframock.testing.harness import RunningStack, base_env, wait_until
from tests.helpers import children_of, engine_of

pytestmark = pytest.mark.faults

STOPPING = "the previous stack (pid {}) is stopping: waiting for it to exit"


def _comes_up_once_let_go(
    first: RunningStack, stopping: psutil.Process, supervisor: int
) -> None:
    """A second run of `first`'s stack waits for `stopping` (held), then starts."""
    second = RunningStack(first.env)  # the same state folder and ports
    try:
        message = STOPPING.format(supervisor)
        wait_until(
            lambda: message in second.output or second.process.poll() is not None,
            60,
            "the second run to wait",
        )
        assert message in second.output, second.output
        stopping.send_signal(signal.SIGCONT)
        second.wait_ready(timeout=120)
        assert "already running" not in second.output
        assert not stopping.is_running() or stopping.status() == "zombie"
    finally:
        if stopping.is_running():
            stopping.send_signal(signal.SIGCONT)
        second.stop()


def _record(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / "stack.json").read_text())
    except (OSError, ValueError):
        return {}


def test_a_run_right_after_make_run_is_killed_waits_for_the_stopping_stack(
    tmp_path: Path,
) -> None:
    # Persisted: the supervisor waits for its engine to save, however long that
    # takes, so the engine held (SIGSTOP) keeps the stack stopping until the test
    # has seen it (an unheld stop is over in a tenth of a second).
    env = base_env(tmp_path, INFRAMOCK_PERSIST="true")
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True, exist_ok=True)
    # `make run`'s part: a parent that does not exec the stack in its place.
    make = ["sh", "-c", f'"{sys.executable}" -m inframock run; echo ended']
    first = RunningStack(env, command=make).wait_ready()
    supervisor = psutil.Process(first.process.pid).children()[0]
    engine = engine_of(supervisor.children())
    state = Path(env["INFRAMOCK_STATE_DIR"])
    try:
        engine.send_signal(signal.SIGSTOP)
        first.process.send_signal(signal.SIGKILL)  # its child gets SIGTERM
        wait_until(lambda: _record(state).get("stopping"), 30, "it to stop")
        supervisor.send_signal(signal.SIGSTOP)
        engine.send_signal(signal.SIGCONT)  # it saves and exits; the stop is held
        _comes_up_once_let_go(first, supervisor, supervisor.pid)
    finally:
        for held in (engine, supervisor):
            if held.is_running():
                held.send_signal(signal.SIGCONT)
        first.wait_exit()


def test_a_run_right_after_a_kill_9_of_the_supervisor_waits_for_its_children(
    make_stack: Any,
) -> None:
    # Persisted: its services get SIGTERM (to save) when it dies, not SIGKILL.
    first = make_stack(INFRAMOCK_PERSIST="true").wait_ready()
    left = children_of(first)
    engine = engine_of(left)
    engine.send_signal(signal.SIGSTOP)  # it gets its SIGTERM once let go
    first.process.send_signal(signal.SIGKILL)
    first.wait_exit()
    _comes_up_once_let_go(first, engine, first.process.pid)
    assert all(not child.is_running() for child in left)
