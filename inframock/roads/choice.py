"""Which road a command takes: INFRAMOCK_RUNTIME=auto, local or docker.

`auto` takes Docker only when an engine answers and a Compose command exists,
so a machine without Docker keeps working on the embedded road; and while an
embedded stack runs, `auto` stays with it, so `make stop` stops the stack that
`make run` started.
"""

from __future__ import annotations

import os

from inframock.core.errors import UsageError
from inframock.core.record import StackRecord
from inframock.core.settings import Settings
from inframock.roads.base import Road
from inframock.roads.compose.probes import engine_answers, find_compose
from inframock.roads.compose.project import (
    compose_profiles,
    engine_variables,
    project_name,
)
from inframock.roads.compose.road import ComposeRoad
from inframock.roads.embedded.road import EmbeddedRoad

FORCED: dict[str, type[Road]] = {"local": EmbeddedRoad, "docker": ComposeRoad}
"""The road each INFRAMOCK_RUNTIME but `auto` takes, known before any probe."""


class RoadError(UsageError):
    """The road asked for cannot be taken; the message says why."""


def take_road(settings: Settings, quiet: bool = False, to_run: bool = False) -> Road:
    """Choose the road for these settings and say which one and why (unless
    `quiet`: for output that must be JSON only).

    `to_run` (`make run`): the road INFRAMOCK_RUNTIME forces refuses settings
    it cannot run the stack with before it is probed (`Road.refuse_to_run`).
    """
    if to_run and settings.runtime in FORCED:
        FORCED[settings.runtime].refuse_to_run(settings)
    record = StackRecord.read_live(settings.state_dir)
    road = choose_road(settings, record.pid if record else None)
    if not quiet:
        road.announce()
    return road


def choose_road(settings: Settings, embedded_pid: int | None = None) -> Road:
    """The road for `settings.runtime`; raises RoadError when Docker is forced
    but absent.

    `embedded_pid` is the process of an embedded stack running now, if any.
    """
    runtime = settings.runtime
    if runtime == "local":
        return EmbeddedRoad("INFRAMOCK_RUNTIME=local")
    if runtime == "docker":
        compose = find_compose()
        if compose is None:
            raise RoadError(
                "INFRAMOCK_RUNTIME=docker, but neither `docker compose` nor "
                "`docker-compose` works here: install Docker Compose, or set "
                "INFRAMOCK_RUNTIME=local"
            )
        return _compose_road(
            settings, compose, f"INFRAMOCK_RUNTIME=docker, using `{' '.join(compose)}`"
        )
    if embedded_pid is not None:
        return EmbeddedRoad(
            f"INFRAMOCK_RUNTIME=auto and an embedded stack runs (pid {embedded_pid})"
        )
    if not engine_answers():
        return EmbeddedRoad("INFRAMOCK_RUNTIME=auto and no Docker engine answers")
    compose = find_compose()
    if compose is None:
        return EmbeddedRoad(
            "INFRAMOCK_RUNTIME=auto: a Docker engine answers, but neither "
            "`docker compose` nor `docker-compose` is installed"
        )
    return _compose_road(
        settings,
        compose,
        f"INFRAMOCK_RUNTIME=auto, a Docker engine answers and `{' '.join(compose)}` "
        "works",
    )


def _compose_road(
    settings: Settings, compose: tuple[str, ...], reason: str
) -> ComposeRoad:
    """The Docker road on this checkout's project, with the profile's services.

    Every Compose command of the road (its own, and those it hands the
    process to) inherits INFRAMOCK_ENGINE's image and entry point from this
    process's environment."""
    os.environ.update(engine_variables(settings))
    return ComposeRoad(
        reason,
        compose=compose,
        project=project_name(settings),
        profiles=compose_profiles(settings),
    )
