"""What a service of the stack is: the one shape every service module fills in.

A profile names its services (`Stack.services`, e.g. aws, redis, relay,
postgres); each name is declared once, by the module that owns the service's
behaviour, as a `Declaration` (see inframock.services.registry). The embedded
road, the Compose road, `make status`, the banners and `make env` iterate over
the declarations of the profile's services and never name one: a new service
is its module and one line in a profile.

A declaration says how the service starts on the embedded road (a supervised
child process, `Service`, or a thread of `make run`), which setting holds its
port, what it reports to `make status`, what the banner and `make env` show of
it, and what it does once the data folder is loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import psutil

from inframock.core.errors import InframockError
from inframock.core.settings import Settings

SAVE_TIMEOUT = 3600.0
"""Seconds a service that saves the state on stop may take (a first save
writes every object the services made; a progress line shows it going)."""


AFTER_LOAD_WAIT = 60.0
"""Seconds a service's after-load step waits for it to answer (a container's
first start may still be initialising it)."""


class EngineError(InframockError):
    """An engine cannot be found or used; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Service:
    """A child process of the stack and how to tell it is ready."""

    name: str
    description: str
    command: tuple[str, ...]
    env: dict[str, str]
    host: str
    port: int
    is_ready: Callable[[], bool]
    style: str = "white"
    """The colour of its name before each of its log lines."""
    stop_signal: int = signal.SIGTERM
    """What asks it to stop."""
    death_signal: int = signal.SIGKILL
    """What the kernel sends it if the stack dies (even by SIGKILL)."""
    run_as: tuple[int, int] | None = None
    """(uid, gid) to run as instead of ours (PostgreSQL refuses to run as root)."""
    prepare: Callable[[], None] | None = None
    """Run just before it starts (e.g. PostgreSQL's initdb on first start)."""
    on_ready: Callable[[], None] | None = None
    """Run once it is ready, before seeding (e.g. create the database and roles)."""
    stop_timeout: float = 3.0
    """Seconds it has to exit after `stop_signal` before it is killed."""


@dataclasses.dataclass
class ServiceStatus:
    """One service as seen from outside, and its process when inframock started it."""

    name: str
    up: bool
    address: str
    version: str
    pid: int | None = None
    uptime_seconds: float | None = None
    memory_bytes: int | None = None
    """Resident memory of the process (Redis: as Redis reports it)."""


Rows = list[tuple[str, str]]
"""(label, value) rows of the ready banner."""


def _no_rows(_: Settings) -> Rows:
    return []


def _no_exports(_: Settings) -> dict[str, str]:
    return {}


def _no_warnings(_: Settings) -> list[str]:
    return []


def _no_address(_: Settings) -> str:
    return ""


@contextlib.contextmanager
def _no_thread(_: Settings) -> Iterator[None]:
    yield


@dataclasses.dataclass(frozen=True)
class Declaration:  # pylint: disable=too-many-instance-attributes
    """One service of the stack, as the roads, status, banners and env use it."""

    name: str
    """Its name in `Stack.services`, in docker-compose.yml and in the logs."""
    child: Callable[[Settings, Path], Service] | None = None
    """Embedded road: the child process the supervisor runs (given the
    stack's temporary folder); None for a service that is not a process."""
    thread: Callable[[Settings], ContextManager[None]] = _no_thread
    """Embedded road: what runs inside `make run` while the stack serves,
    from provisioning until it stops (the relay)."""
    port_field: str = ""
    """The Settings field of its port (`postgres_port`): INFRAMOCK_<FIELD> is
    the setting, the port is checked free before a start and recorded."""
    address: Callable[[Settings], str] = _no_address
    """Where clients reach it, as the banner and status show it."""
    status: Callable[[Settings, str, int | None], ServiceStatus] | None = None
    """`make status`'s row, given the version the stack recorded ('' if none)
    and its pid; None for a service that serves nothing to ask (its container's
    state stands for it on the Docker road)."""
    warnings: Callable[[Settings], list[str]] = _no_warnings
    """`make status`'s warnings about it while it is up."""
    banner_rows: Callable[[Settings], Rows] = _no_rows
    """The ready banner's rows about it, beyond its name and address."""
    exports: Callable[[Settings], dict[str, str]] = _no_exports
    """`make env`'s variables that point its clients at it."""
    after_load: Callable[[Settings, float], int] | None = None
    """Once the data folder is loaded (both roads): its own part of the data
    folder, waiting up to the seconds given for it to answer; 0 or 1."""
    keeps_volumes: bool = False
    """Docker road: `make stop` keeps the project's volumes (its data)."""

    def port(self, settings: Settings) -> int:
        """Its port in `settings` (0 if it has none)."""
        return int(getattr(settings, self.port_field)) if self.port_field else 0

    @property
    def port_setting(self) -> str:
        """The setting that names its port, e.g. INFRAMOCK_POSTGRES_PORT."""
        return f"INFRAMOCK_{self.port_field.upper()}"


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any `AWS_*` variable, plus `extra`.

    The engines need no AWS credentials. Keeping a developer's real ones
    (AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN, AWS_PROFILE, ...) out of them means no
    bug or debug endpoint of an engine, which anyone reaching its port can
    drive, can show or use them.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


def version_output(binary: str) -> str | None:
    """What `binary --version` prints, or None if it cannot be run."""
    try:
        return subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except OSError:
        return None


def with_process(service: ServiceStatus, pid: int | None) -> ServiceStatus:
    """Fill in pid, uptime and memory from the service's process, if it runs."""
    if pid is None:
        return service
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            service.uptime_seconds = round(time.time() - process.create_time(), 1)
            service.memory_bytes = process.memory_info().rss
        service.pid = pid
    except psutil.Error:
        pass
    return service
