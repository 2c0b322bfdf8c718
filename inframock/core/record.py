"""The record a running stack leaves for `stop`, `status` and a second `run`.

`make run` writes `stack.json` in the state folder (atomically) and removes it
on the way out. Because a SIGKILL leaves the file behind, a record is believed
only while its process is alive *and* started when the record says, so a stale
file (or a recycled pid) never blocks the next start.

A stack on its way out is not one to use: its supervisor marks the record
`stopping` before it stops its children, and a supervisor killed outright
(`kill -9`) leaves children that are still exiting (PR_SET_PDEATHSIG). A new
start waits for either to be gone (`wait_while_stopping`) instead of calling
the stack running, or finding its ports taken.

The embedded road writes it; it lives below both roads because more than that
road reads it: the road choice (`auto` stays with a running embedded stack),
`make status` and the SQL commands.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import psutil

from inframock.core.files import write_atomically
from inframock.core.errors import InframockError
from inframock.core import console

STATE_FILE = "stack.json"
STOPPING_WAIT = 60.0
"""Seconds a new start waits for a stopping stack to be gone."""
WORKDIR_PREFIX = "inframock-"
"""The name every stack's temporary folder starts with."""


class RecordError(InframockError):
    """The record exists but cannot be read: whether a stack runs is unknown."""


@dataclasses.dataclass(frozen=True)
class StackRecord:
    """Who runs the stack and where it listens."""

    pid: int
    started: float
    aws_endpoint: str
    redis_url: str
    services: dict[str, str]
    """Service name → version, e.g. {"aws": "moto 5.2.5"}."""
    pids: dict[str, int] = dataclasses.field(default_factory=dict)
    """Service name → pid of its process, for status's uptime and memory."""
    control: str = ""
    """The supervisor's control socket, once it takes reloads (see control.py)."""
    workdir: str = ""
    """The stack's temporary folder, removed by whoever finds the record stale."""
    profile: str = ""
    """The profile (INFRAMOCK_PROFILE) the stack was started with."""
    persist: bool = False
    """Whether it saves its state when it stops (INFRAMOCK_PERSIST)."""
    stopping: bool = False
    """Set by the supervisor once it has begun to stop the stack."""
    ports: dict[str, int] = dataclasses.field(default_factory=dict)
    """Settings field → port of each service that listens, e.g.
    {"aws_port": 4566, "postgres_port": 5431} (see services.base.Declaration)."""
    detached: bool = False
    """Started by `make start` (in the background) rather than `make run`."""

    @property
    def command(self) -> str:
        """The command that started the stack, as the user typed it."""
        return "`make start`" if self.detached else "`make run`"

    def save(self, state_dir: Path) -> None:
        """Write the record atomically, so readers never see half of it."""
        write_atomically(
            state_dir / STATE_FILE, json.dumps(dataclasses.asdict(self), indent=2)
        )

    @classmethod
    def read(cls, state_dir: Path) -> "StackRecord | None":
        """The record as it is on disk, live or not; None if there is none."""
        path = state_dir / STATE_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise RecordError(f"cannot read {path}: {err.strerror}") from None
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as err:
            raise RecordError(
                f"{path} is not a stack record ({err}); a stack may be running. "
                "Stop it where it runs (Ctrl-C in its terminal), then delete the file."
            ) from None

    @classmethod
    def read_live(cls, state_dir: Path) -> "StackRecord | None":
        """The record of a stack that is running now, or None (stale files removed)."""
        record = cls.read(state_dir)
        if record is None or record.is_alive():
            return record
        if record.exiting():  # kept, for a start to wait on (wait_while_stopping)
            return None
        record.clear(state_dir)
        return None

    def clear(self, state_dir: Path) -> None:
        """Remove this stale record and what its supervisor, killed (kill -9),
        could not: its temporary folder."""
        if Path(self.workdir).name.startswith(WORKDIR_PREFIX):
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.remove(state_dir, self.pid)

    def is_alive(self) -> bool:
        """True while the recorded process runs and is the one that wrote this.

        A zombie (killed, but its parent has not reaped it: common in
        containers without an init) has stopped running.
        """
        try:
            process = psutil.Process(self.pid)
            with process.oneshot():
                return (
                    abs(process.create_time() - self.started) < 1.0
                    and process.status() != psutil.STATUS_ZOMBIE
                )
        except psutil.Error:
            return False

    def exiting(self) -> list[psutil.Process]:
        """The processes of this stack still on their way out: its supervisor
        if it is stopping, or, when it was killed, the children it left."""
        if self.is_alive():
            return [psutil.Process(self.pid)] if self.stopping else []
        left = []
        for pid in self.pids.values():
            try:
                process = psutil.Process(pid)
                with process.oneshot():  # a child starts after its supervisor
                    if (
                        process.create_time() >= self.started - 1.0
                        and process.status() != psutil.STATUS_ZOMBIE
                    ):
                        left.append(process)
            except psutil.Error:
                continue
        return left

    @staticmethod
    def mark_stopping(state_dir: Path, pid: int) -> None:
        """Mark `pid`'s own record as stopping (never another stack's).

        Only a hint for a start that comes meanwhile (it waits for the
        children either way): a state folder that cannot be written (full)
        must not keep the stack from stopping."""
        try:
            record = StackRecord.read(state_dir)
            if record is not None and record.pid == pid:
                dataclasses.replace(record, stopping=True).save(state_dir)
        except (RecordError, OSError):
            pass

    @staticmethod
    def remove(state_dir: Path, pid: int) -> None:
        """Remove the record if it is `pid`'s own (never another stack's)."""
        path = state_dir / STATE_FILE
        try:
            if json.loads(path.read_text()).get("pid") == pid:
                path.unlink()
        except (OSError, ValueError):
            pass


def wait_while_stopping(state_dir: Path, timeout: float = STOPPING_WAIT) -> None:
    """Return once no stack of `state_dir` is stopping (waiting for it if one
    is); RecordError if it is still there after `timeout` seconds."""
    record = StackRecord.read(state_dir)
    exiting = record.exiting() if record is not None else []
    if record is None or not exiting:
        return
    console.note(
        f"the previous stack (pid {record.pid}) is stopping: waiting for it to "
        f"exit (up to {timeout:.0f} s)"
    )
    deadline = time.monotonic() + timeout
    while exiting:  # its supervisor, then what a kill of it may have left
        _, alive = psutil.wait_procs(exiting, max(0.0, deadline - time.monotonic()))
        if alive:
            pids = " ".join(str(p.pid) for p in alive)
            raise RecordError(
                f"the previous stack is still stopping after {timeout:.0f} s "
                f"(pid {pids}): wait for it to exit, or end it with `kill {pids}`"
            )
        record = StackRecord.read(state_dir)
        exiting = record.exiting() if record is not None else []
