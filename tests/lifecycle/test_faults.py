"""Faults the embedded stack must survive: a signal at every phase, a dying service.

Every case checks the same promise: no process and no port left behind, and
the next `make run` with the same state folder and settings comes up with all
the data. Phases are reached by readiness checks, never by sleeping: the state
file for "starting", a relay that holds the loader's first request for
"provisioning", the progress line of a big upload for "loading", the banner
for "running".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from inframock.core.probes import http_ok
from inframock.core.record import STATE_FILE
from inframock.testing.harness import (
    READY_LINE,
    START_TIMEOUT,
    Forwarder,
    RunningStack,
    free_port,
    wait_until,
)
from inframock.testing.datafolder import (
    MB,
    experiment_folder,
    write_json,
    write_stored_rds,
)
from tests.helpers import (
    FREED_WITHIN,
    assert_all_gone,
    children_of,
    engine_of,
    redis_of,
)

pytestmark = pytest.mark.faults

PHASES = ("starting", "provisioning", "loading", "running")
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
SMALL, BIG = "exp-small", "exp-big"
BIG_RDS = 128 * MB
"""Big enough that loading it takes about a second even on a fast machine."""
NOTICE_WITHIN = 1.5
"""Seconds from a service's death to the supervisor's error line (generous)."""
STOPPING = "received: stopping the stack"


@pytest.fixture(scope="module", name="small_data")
def small_data_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One experiment with one item: quick to load, easy to look for after a restart."""
    data = tmp_path_factory.mktemp("small")
    folder = experiment_folder(data, SMALL)
    write_json(folder, "mock_experiment.json", {"experimentId": SMALL, "name": "s"})
    return data


@pytest.fixture(scope="module", name="big_data")
def big_data_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small experiment plus a big r.rds.gz, so that loading lasts a while.

    Stored (level 0) gzip: building it costs no compression time, and the
    loader streams it exactly like any other gzip file.
    """
    data = tmp_path_factory.mktemp("big")
    folder = experiment_folder(data, SMALL)
    write_json(folder, "mock_experiment.json", {"experimentId": SMALL, "name": "s"})
    write_stored_rds(experiment_folder(data, BIG), BIG_RDS)
    return data


@pytest.fixture(name="stacks")
def stacks_fixture() -> Iterator[list[RunningStack]]:
    """Stacks a test starts itself; whichever still runs is stopped afterwards."""
    started: list[RunningStack] = []
    yield started
    for stack in started:
        stack.stop()


def state_file(stack: RunningStack) -> Path:
    """The stack's record in its state folder."""
    return Path(stack.env["INFRAMOCK_STATE_DIR"]) / STATE_FILE


def recorded_pid(stack: RunningStack) -> int | None:
    """The pid in the state file, if there is one."""
    try:
        return int(json.loads(state_file(stack).read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def workdir_of(services: list[psutil.Process]) -> Path:
    """The stack's temporary folder: Redis works in it (`--dir` is a chdir)."""
    redis = redis_of(services)
    wait_until(
        lambda: Path(redis.cwd()).name.startswith("inframock-"),
        START_TIMEOUT,
        "Redis to enter its working folder",
    )
    return Path(redis.cwd())


def reach(phase: str, stack: RunningStack, relay: Forwarder | None) -> None:
    """Return once `stack` is in `phase` (and, for "starting", provably still there)."""
    if phase == "starting":
        wait_until(
            lambda: recorded_pid(stack) == stack.process.pid,
            START_TIMEOUT,
            "the services to be started",
        )
        # The supervisor cannot be past "starting" while moto does not answer.
        moto = f"http://127.0.0.1:{stack.aws_port}/moto-api/"
        assert not http_ok(moto), "moto answered already: 'starting' was missed"
    elif phase == "provisioning":
        assert relay is not None
        assert relay.held.wait(START_TIMEOUT), stack.output
    elif phase == "loading":
        wait_until(
            lambda: f"{BIG}/r.rds.gz → s3://" in stack.output
            and "started (" in stack.output,
            START_TIMEOUT,
            "the big upload to start",
        )
    else:
        stack.wait_ready()


def output_before_the_signal(stack: RunningStack) -> str:
    """What the stack printed before it acted on the signal."""
    return stack.output.split(STOPPING)[0]


def assert_phase_was(phase: str, before: str) -> None:
    """The output up to the signal shows the phase was the intended one."""
    reached = [
        "inframock | provisioned " in before,
        "inframock | loading " in before,
        READY_LINE in before,
    ]
    # Provisioning prints nothing until it ends: the held relay proves that phase.
    expected = {
        "starting": [False, False, False],
        "provisioning": [False, False, False],
        "loading": [True, True, False],
        "running": [True, True, True],
    }[phase]
    assert reached == expected, before


def assert_next_start_has_everything(
    stack: RunningStack, stacks: list[RunningStack], big: bool
) -> None:
    """A second `run` with the same settings and state folder comes up, fully loaded."""
    second = RunningStack(stack.env)
    stacks.append(second)
    second.wait_ready()
    assert recorded_pid(second) == second.process.pid
    item = second.client("dynamodb").get_item(
        TableName="experiments-development", Key={"experimentId": {"S": SMALL}}
    )
    assert item["Item"]["name"] == {"S": "s"}
    if big:
        head = second.client("s3").head_object(
            Bucket="biomage-source-development", Key=f"{BIG}/r.rds"
        )
        assert head["ContentLength"] == BIG_RDS
    second.stop()


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_at_any_phase_leaves_nothing_behind(
    signum: int,
    phase: str,
    small_data: Path,
    big_data: Path,
    stacks: list[RunningStack],
    make_stack: Any,
) -> None:
    aws_port = free_port()
    relay = Forwarder(aws_port, hold=True) if phase == "provisioning" else None
    overrides = {"INFRAMOCK_AWS_PORT": str(aws_port)}
    if relay is not None:
        overrides["INFRAMOCK_AWS_ENDPOINT"] = relay.url
    try:
        stack = make_stack(big_data if phase == "loading" else small_data, **overrides)
        reach(phase, stack, relay)
        services = children_of(stack)
        assert len(services) == 2
        workdir = workdir_of(services)
        stack.process.send_signal(signum)
        code = stack.wait_exit()
        assert_all_gone(stack, services)
        if relay is not None:
            relay.release()
        if signum == signal.SIGKILL:
            # Nothing but the parent-death signal could have ended the services.
            assert code == -signal.SIGKILL
            assert_phase_was(phase, stack.output)
            assert recorded_pid(stack) == stack.process.pid  # stale, and harmless
            # Left behind: the temporary folder, with no data (Redis persists none).
            left = {path.name for path in workdir.iterdir()}
            assert not left & {"dump.rdb", "appendonlydir"}, left
            shutil.rmtree(workdir)
        else:
            assert code == 0  # a stop asked for (SIGINT, SIGTERM) is no failure
            name = signal.Signals(signum).name
            assert f"{name} {STOPPING}" in stack.output
            assert "inframock | stopped" in stack.output
            assert "Traceback" not in stack.output
            assert_phase_was(phase, output_before_the_signal(stack))
            assert not state_file(stack).exists()
            assert not workdir.exists()
        assert_next_start_has_everything(stack, stacks, big=phase == "loading")
    finally:
        if relay is not None:
            relay.close()


def test_a_second_signal_during_shutdown_does_not_cut_it_short(
    big_data: Path, make_stack: Any
) -> None:
    stack = make_stack(big_data)
    reach("loading", stack, None)
    services = children_of(stack)
    # Ctrl-C and `make stop` at once: both arrive before the first is handled.
    os.kill(stack.process.pid, signal.SIGINT)
    os.kill(stack.process.pid, signal.SIGTERM)
    assert stack.wait_exit() == 0, stack.output
    assert_all_gone(stack, services)
    assert "Traceback" not in stack.output
    assert stack.output.count(STOPPING) == 1
    assert "inframock | stopped" in stack.output
    assert not state_file(stack).exists()


@pytest.mark.parametrize("service", ["aws", "redis"])
def test_a_dying_service_is_noticed_at_once_and_stops_the_stack(
    service: str, make_stack: Any, record_property: Any
) -> None:
    stack = make_stack().wait_ready()
    services = children_of(stack)
    victim = engine_of(services) if service == "aws" else redis_of(services)
    killed = time.monotonic()
    victim.kill()
    wait_until(
        lambda: "was killed by SIGKILL" in stack.output, FREED_WITHIN, "the notice"
    )
    noticed = time.monotonic() - killed
    code = stack.wait_exit()
    exited = time.monotonic() - killed
    record_property("noticed_s", round(noticed, 3))
    record_property("exited_s", round(exited, 3))
    assert noticed < NOTICE_WITHIN, f"noticed after {noticed:.2f} s"
    assert code == 1
    error = stack.output.split("inframock | error: ")[1]
    assert error.startswith(f"{service} ("), error
    assert "was killed by SIGKILL; its last output:" in error
    assert "stopping the stack" in error
    assert "inframock | stopped" in stack.output
    assert_all_gone(stack, services)
    assert not state_file(stack).exists()
