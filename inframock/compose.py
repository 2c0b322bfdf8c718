"""The Docker road: which road `make run` takes, and the exact Compose commands.

`INFRAMOCK_RUNTIME=auto` takes Docker only when an engine answers and a Compose
command exists, so a machine without Docker keeps working on the embedded road;
and while an embedded stack runs, `auto` stays with it, so `make stop` stops
the stack that `make run` started.

On the Docker road inframock does no supervision of its own: Compose runs the
stack described by docker-compose.yml, and the `populate` service provisions
and loads it with the same `python -m inframock seed` the embedded road runs in
process. Compose replaces this process (`exec`), so Ctrl-C and the exit status
are Compose's own.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from inframock.output import console
from inframock.settings import Runtime, Settings
from inframock.embedded.record import StackRecord
from inframock.errors import UsageError

COMPOSE_FILE = Path(__file__).resolve().parent.parent / "docker-compose.yml"
PROBE_TIMEOUT = 20.0
"""Seconds a `docker info` may take; an engine slower than that is not used."""

UP = ("up", "--build")
"""Foreground, without --abort-on-container-exit: aws and redis stay up after
`populate` exits, until Ctrl-C or `make stop`."""
RELOAD = ("run", "--rm", "--no-deps", "populate")
"""Only the loader again, against the running aws and redis."""
DOWN = ("down",)
PS = ("ps", "--all")
"""--all lists the exited `populate` too, with the loader's exit status."""


class RoadError(UsageError):
    """The road asked for cannot be taken; the message says why."""


@dataclasses.dataclass(frozen=True)
class Road:
    """The road taken: its Compose command (empty on the local road) and why."""

    compose: tuple[str, ...]
    reason: str

    @property
    def docker(self) -> bool:
        """True on the Docker road."""
        return bool(self.compose)

    def command(self, args: tuple[str, ...]) -> list[str]:
        """The full Compose command line for `args`, on this project's file."""
        return [*self.compose, "--file", str(COMPOSE_FILE), *args]


def take_road(settings: Settings) -> Road:
    """Choose the road for these settings and say which one and why."""
    record = StackRecord.read_live(settings.state_dir)
    road = choose_road(settings.runtime, record.pid if record else None)
    console.note(f"{'docker' if road.docker else 'local'} road: {road.reason}")
    return road


def choose_road(runtime: Runtime, embedded_pid: int | None = None) -> Road:
    """The road for `runtime`; raises RoadError when Docker is forced but absent.

    `embedded_pid` is the process of an embedded stack running now, if any.
    """
    if runtime == "local":
        return Road((), "INFRAMOCK_RUNTIME=local")
    if runtime == "docker":
        compose = find_compose()
        if compose is None:
            raise RoadError(
                "INFRAMOCK_RUNTIME=docker, but neither `docker compose` nor "
                "`docker-compose` works here: install Docker Compose, or set "
                "INFRAMOCK_RUNTIME=local"
            )
        return Road(compose, f"INFRAMOCK_RUNTIME=docker, using `{' '.join(compose)}`")
    if embedded_pid is not None:
        return Road(
            (),
            f"INFRAMOCK_RUNTIME=auto and an embedded stack runs (pid {embedded_pid})",
        )
    if not _succeeds(["docker", "info"]):
        return Road((), "INFRAMOCK_RUNTIME=auto and no Docker engine answers")
    compose = find_compose()
    if compose is None:
        return Road(
            (),
            "INFRAMOCK_RUNTIME=auto: a Docker engine answers, but neither "
            "`docker compose` nor `docker-compose` is installed",
        )
    return Road(
        compose,
        f"INFRAMOCK_RUNTIME=auto, a Docker engine answers and `{' '.join(compose)}` "
        "works",
    )


def find_compose() -> tuple[str, ...] | None:
    """The Compose command: the `docker compose` plugin, else `docker-compose`."""
    if _succeeds(["docker", "compose", "version"]):
        return ("docker", "compose")
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    return None


def _succeeds(command: list[str]) -> bool:
    """True when `command` exits 0 in time; a missing program is a failure."""
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def up(road: Road, settings: Settings) -> NoReturn:
    """`make run`: the stack in the foreground, loaded once `populate` has run."""
    if settings.exposed:
        console.warn(
            f"publishing on {settings.bind}: anyone who can reach this machine on "
            f"ports {settings.aws_port} and {settings.redis_port} can read and "
            "change the stack, which has no authentication."
        )
    become(road.command(UP))


def become(command: list[str]) -> NoReturn:
    """Replace this process with `command`: signals and exit status are its own."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except OSError as err:
        console.error(f"cannot run {command[0]}: {err}")
        sys.exit(127)


def show_services(road: Road) -> None:
    """Print Compose's own view of the containers (best effort, before status)."""
    sys.stdout.flush()
    try:
        subprocess.run(
            road.command(PS), stdin=subprocess.DEVNULL, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        console.warn(f"`{' '.join(road.command(PS))}` failed: {err}")
