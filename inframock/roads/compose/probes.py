"""Quick questions to Docker and to the Compose project, none of which may hang
a command: does an engine answer, which Compose command works, which engine
the aws container runs, what state each container is in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from inframock.core import console
from inframock.core.settings import Settings
from inframock.services.registry import services_for
from inframock.roads.compose.project import COMPOSE_FILE, ENGINE_VERSION, PS, STATES

if TYPE_CHECKING:
    from inframock.roads.compose.road import ComposeRoad

PROBE_TIMEOUT = 20.0
"""Seconds a `docker info` may take; an engine slower than that is not used."""


def engine_answers() -> bool:
    """True when a Docker engine answers `docker info` in time."""
    return _succeeds(["docker", "info"])


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


def engine_version(road: ComposeRoad) -> str:
    """The AWS engine in the `aws` container, e.g. `moto 5.2.5`; '' if unknown."""
    output = _probe(road, ENGINE_VERSION)
    return "" if output is None else output.strip()


def _probe(road: ComposeRoad, args: tuple[str, ...]) -> str | None:
    """The output of a quick Compose command; None if it failed or took too long."""
    try:
        result = subprocess.run(
            road.command(args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def container_states(road: ComposeRoad) -> dict[str, str]:
    """Each service's container state (`running`, `exited`…) from Compose; {}
    if Compose cannot say."""
    output = _probe(road, STATES)
    return {} if output is None else parse_states(output)


def parse_states(text: str) -> dict[str, str]:
    """`ps --format json` output (an array, or one object a line) → service: state."""
    rows: list[object] = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        rows.extend(parsed if isinstance(parsed, list) else [parsed])
    return {
        str(row["Service"]): str(row.get("State", "?")).lower()
        for row in rows
        if isinstance(row, dict) and "Service" in row
    }


def container_services(
    road: ComposeRoad, settings: Settings, known: set[str]
) -> list[tuple[str, str]]:
    """(service, state) of the profile's services that status cannot ask over a
    socket (the relay, which serves nothing): their container's state."""
    names = [s.name for s in services_for(settings) if s.name not in known]
    states = container_states(road) if names else {}
    return [(name, states.get(name, "no container")) for name in names]


def show_services(road: ComposeRoad) -> None:
    """Print the project and Compose's own view of its containers (before status)."""
    console.note(f"Compose project {road.project} ({COMPOSE_FILE})")
    sys.stdout.flush()
    try:
        subprocess.run(
            road.command(PS), stdin=subprocess.DEVNULL, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        console.warn(f"`{' '.join(road.command(PS))}` failed: {err}")
