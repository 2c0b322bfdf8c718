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
from inframock.settings import Settings

STATE_FILE = "stack.json"
LOG_FILE = "stack.log"
"""The running stack's whole log, in the state folder."""
WORKDIR_PREFIX = "inframock-"
"""The name every stack's temporary folder starts with."""


def log_path(settings: Settings) -> Path:
    """The stack's log (`make run`'s and `make start`'s): `stack.log` in the
    state folder."""
    return settings.state_dir / LOG_FILE


def rotate(path: Path) -> None:
    """Keep the previous log as `<name>.1` (replacing an older one)."""
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))


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

    def save(self, state_dir: Path) -> None:
        """Write the record atomically, so readers never see half of it."""
        write_atomically(
            state_dir / STATE_FILE, json.dumps(dataclasses.asdict(self), indent=2)
        )

    @classmethod
    def read_live(cls, state_dir: Path) -> "StackRecord | None":
        """The record of a stack that is running now, or None (stale files removed)."""
        path = state_dir / STATE_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise RecordError(f"cannot read {path}: {err.strerror}") from None
        try:
            record = cls(**json.loads(text))
        except (ValueError, TypeError) as err:
            raise RecordError(
                f"{path} is not a stack record ({err}); a stack may be running. "
                "Stop it where it runs (Ctrl-C in its terminal), then delete the file."
            ) from None
        if record.is_alive():
            return record
        # Its supervisor was killed (kill -9): clear what it could not.
        if Path(record.workdir).name.startswith(WORKDIR_PREFIX):
            shutil.rmtree(record.workdir, ignore_errors=True)
        path.unlink(missing_ok=True)
        return None

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
