"""The Compose project of a checkout, and the exact Compose arguments of each
operation.

Every command names the Compose project (`--project-name`), one per checkout,
so two checkouts never share containers; and Compose v1, which rejects a
`name:` in the file, runs the same file.

Which services run is the profile's data, not a branch here: every command
enables one Compose profile per service the profile's stack `services` names
(`compose_profiles`). docker-compose.yml puts each service that not every
profile runs (relay, postgres) in the Compose profile of its own name, so the
project runs exactly the profile's services, plus the `populate` loader.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import dotenv_values

from inframock.core.checkout import CHECKOUT
from inframock.core.settings import ENGINES, Settings
from inframock.model.profiles import stack_for
from inframock.services.registry import SERVICES

if TYPE_CHECKING:
    from inframock.roads.compose.road import ComposeRoad

COMPOSE_FILE = CHECKOUT / "docker-compose.yml"

UP = ("up", "--build")
"""Foreground, without --abort-on-container-exit: aws and redis stay up after
`populate` exits, until Ctrl-C or `make stop`."""
RELOAD = ("run", "--rm", "--no-deps", "populate")
"""Only the loader again, against the running aws and redis."""
SEED_EVERYTHING = ("python", "-m", "populate", "seed", "--all")
"""The loader's command for `make reload-data ALL=1`."""
DOWN = ("down", "--volumes")
"""Containers, network and the loader's record volume: nothing is left."""
DOWN_KEEPING_DATA = ("down",)
"""Containers and network; the volumes stay: PostgreSQL's data (`pg_data`)
persists across restarts, as on the embedded road (the loader's record volume
stays too, which is harmless: it is tagged with the stack it describes)."""
PG_DATA_VOLUME = "pg_data"
"""The postgres service's named volume in docker-compose.yml."""
PS = ("ps", "--all")
"""--all lists the exited `populate` too, with the loader's exit status."""
STATES = ("ps", "--all", "--format", "json")
"""The same as data: one JSON object per container (Compose >= 2.21: one a
line; older: one JSON array)."""
STOP = ("stop",)
"""What the watchdog runs when `make run` dies (the ports are free again), and
`make stop` before `down`."""
ENGINE_VERSION = (
    "exec",
    "-T",
    "aws",
    "python",
    "-c",
    "import importlib.metadata as m; "
    "names = {d.metadata['Name'].lower() for d in m.distributions()}; "
    "name = next(n for n in ('localstack-core', 'ministack', 'moto') if n in names); "
    "print(name, m.version(name))",
)
"""Asks the aws container which engine it runs: an image tag may not say."""
NOT_IN_PROJECT_NAMES = re.compile(r"[^a-z0-9_-]+")


def project_name(settings: Settings, checkout: Path = COMPOSE_FILE.parent) -> str:
    """INFRAMOCK_COMPOSE_PROJECT, else one name per checkout.

    The folder's name as Compose would spell it, plus a short hash of its
    absolute path, so two checkouts (even two folders of the same name) never
    share containers, networks or volumes.
    """
    if settings.compose_project:
        return settings.compose_project
    folder = NOT_IN_PROJECT_NAMES.sub("-", checkout.name.lower()).strip("-_")
    digest = hashlib.sha256(str(checkout.resolve()).encode()).hexdigest()[:8]
    return f"inframock-{folder}-{digest}" if folder else f"inframock-{digest}"


def compose_profiles(settings: Settings) -> tuple[str, ...]:
    """The Compose profiles of the profile's services: one per service, named
    after it (docker-compose.yml's convention). Services that every profile
    runs have no Compose profile, so enabling theirs changes nothing; a service
    in a Compose profile of its own runs only when the profile names it."""
    return stack_for(settings).services


def down_args(road: ComposeRoad) -> tuple[str, ...]:
    """`make stop`: keep the volumes of a project whose services keep their
    data in one (postgres: until `make clean-sql`), else remove them with the
    containers."""
    keeping = any(SERVICES[name].keeps_volumes for name in road.profiles)
    return DOWN_KEEPING_DATA if keeping else DOWN


def pg_data_volume(road: ComposeRoad) -> str:
    """The Docker name of the project's PostgreSQL volume (`<project>_pg_data`)."""
    return f"{road.project}_{PG_DATA_VOLUME}"


def logs_args(follow: bool, lines: int | None) -> tuple[str, ...]:
    """`make logs` on the Docker road: `docker compose logs`, which prints and
    returns, or follows with `follow` (`-f`), as the embedded road's logs."""
    return (
        "logs",
        *(("--follow",) if follow else ()),
        *(("--tail", str(lines)) if lines is not None else ()),
    )


def reload_args(everything: bool) -> tuple[str, ...]:
    """The Compose arguments of `make reload-data` (`ALL=1`: `everything`)."""
    return RELOAD + SEED_EVERYTHING if everything else RELOAD


def engine_variables(settings: Settings) -> dict[str, str]:
    """The Compose variables that run INFRAMOCK_ENGINE in the `aws` container
    (its module's COMPOSE: image and entry point), but for any the user set
    in the environment or in the `.env` Compose reads, which win."""
    module = importlib.import_module(ENGINES[settings.engine])
    env_file = COMPOSE_FILE.parent / ".env"
    from_file = dotenv_values(env_file) if env_file.is_file() else {}
    return {
        name: value
        for name, value in module.COMPOSE.items()
        if not (os.environ.get(name) or from_file.get(name))
    }
