"""Defects the layout review found, each pinned by a test that failed before.

The run record (a corrupt one is an error, a zombie's is stale), the control
channel (a failing handler still ends its answer), and the console (a reload
for another terminal takes only its own thread's lines there).
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
from pathlib import Path
from typing import Any, TextIO

import psutil
import pytest

from inframock.roads.embedded import control
from inframock.core.record import STATE_FILE, RecordError, StackRecord
from inframock.core import console
from inframock.testing.harness import base_env, cli, wait_until


def test_a_corrupt_record_is_an_error_naming_the_file(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    state = Path(env["INFRAMOCK_STATE_DIR"])
    state.mkdir(parents=True)
    (state / STATE_FILE).write_text('{"pid": 12')  # cut short
    with pytest.raises(RecordError, match=STATE_FILE):
        StackRecord.read_live(state)
    result = cli(env, "stop")
    assert result.returncode == 1, result.stdout
    assert str(state / STATE_FILE) in " ".join(result.stdout.split())
    assert "no inframock stack is running" not in result.stdout
    assert (state / STATE_FILE).exists()  # nothing is decided for the user


@pytest.fixture(name="zombie")
def zombie_fixture() -> Any:
    """A child that has exited and is not reaped: a zombie, until we wait."""
    process = subprocess.Popen(["true"])  # pylint: disable=consider-using-with
    wait_until(
        lambda: psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE,
        10,
        "the child to become a zombie",
    )
    yield process
    process.wait()


def test_a_record_whose_pid_is_a_zombie_is_stale(
    tmp_path: Path, zombie: subprocess.Popen[bytes]
) -> None:
    state = tmp_path / "state"
    record = StackRecord(
        pid=zombie.pid,
        started=psutil.Process(zombie.pid).create_time(),
        aws_endpoint="http://127.0.0.1:9",
        redis_url="redis://127.0.0.1:9",
        services={},
    )
    record.save(state)
    assert json.loads((state / STATE_FILE).read_text())["pid"] == zombie.pid
    assert StackRecord.read_live(state) is None
    assert not (state / STATE_FILE).exists()  # cleared, so `make run` starts


def test_a_failing_reload_handler_still_ends_with_its_reason(
    tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    def broken(_: dict[str, Any], stream: TextIO) -> int:
        stream.write("inframock | loading\n")
        raise RuntimeError("the handler broke")

    control.ControlServer(tmp_path / "control.sock", broken)
    code = control.call(tmp_path / "control.sock", {"everything": False})
    out = capfdbinary.readouterr().out.decode()
    assert code == 1
    assert "inframock | loading" in out
    assert "the handler broke" in out


def test_a_redirected_thread_does_not_take_the_other_threads_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = io.StringIO()
    inside, done = threading.Event(), threading.Event()

    def reload_for_client() -> None:
        with console.redirected(client, is_terminal=False, width=100):
            console.note("reload line")
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=reload_for_client)
    thread.start()
    assert inside.wait(10)
    console.note("banner line")  # the main thread, meanwhile
    done.set()
    thread.join(10)
    assert "reload line" in client.getvalue()
    assert "banner line" not in client.getvalue()
    assert "banner line" in capsys.readouterr().out
