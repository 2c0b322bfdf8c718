"""The record a running stack leaves for `stop`, `status` and a second `run`.

`make run` writes `stack.json` in the state folder (atomically) and removes it
on the way out. Because a SIGKILL leaves the file behind, a record is believed
only while its process is alive *and* started when the record says, so a stale
file (or a recycled pid) never blocks the next start.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import psutil

from inframock.data.files import write_atomically
from inframock.errors import InframockError

STATE_FILE = "stack.json"
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
    postgres_port: int = 0
    """The port PostgreSQL listens on; 0 when the profile runs none."""
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
        """The record in the state folder, whether its stack runs or not."""
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

    @staticmethod
    def remove(state_dir: Path, pid: int) -> None:
        """Remove the record if it is `pid`'s own (never another stack's)."""
        path = state_dir / STATE_FILE
        try:
            if json.loads(path.read_text()).get("pid") == pid:
                path.unlink()
        except (OSError, ValueError):
            pass
