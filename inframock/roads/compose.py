"""The Docker road: which road `make run` takes, and the exact Compose commands.

`INFRAMOCK_RUNTIME=auto` takes Docker only when an engine answers and a Compose
command exists, so a machine without Docker keeps working on the embedded road;
and while an embedded stack runs, `auto` stays with it, so `make stop` stops
the stack that `make run` started.

On the Docker road Compose runs the stack described by docker-compose.yml, and
the `populate` service provisions and loads it with the same `inframock
seed` the embedded road runs in process. `make run` stays Compose's
parent only to print the ready banner once `populate` has exited, and to keep
the embedded road's promise that a killed `make run` leaves nothing running: a
watchdog shell stops the project's containers when this process dies without
saying goodbye. Ctrl-C reaches Compose itself, which stops the containers; the
exit status is Compose's own.

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

import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, NoReturn

from inframock.model.profiles import stack_for
from inframock.roads.embedded.record import StackRecord
from inframock.roads.embedded.supervisor import die_with_parent
from inframock.core.errors import UsageError
from inframock.core import console
from inframock.views import banner as views_banner
from inframock.core.settings import Runtime, Settings
from inframock.services.base import AFTER_LOAD_WAIT
from inframock.services.registry import SERVICES, services_for

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
PROBE_TIMEOUT = 20.0
"""Seconds a `docker info` may take; an engine slower than that is not used."""

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
"""What the watchdog runs when `make run` dies: the ports are free again."""
ENGINE_VERSION = (
    "exec",
    "-T",
    "aws",
    "python",
    "-c",
    "import importlib.metadata as m; "
    "names = {d.metadata['Name'].lower() for d in m.distributions()}; "
    "name = 'localstack-core' if 'localstack-core' in names else 'moto'; "
    "print(name, m.version(name))",
)
"""Asks the aws container which engine it runs: an image tag may not say."""
WATCHDOG = 'trap \'\' INT TERM HUP; read -r line; [ "$line" = done ] || exec "$@"'
"""Run by /bin/sh with a pipe from `make run` as stdin: `done` means a clean
exit; end of file without it means `make run` died, so it runs the stop command
given as its arguments. It ignores the signals that stop `make run` (Ctrl-C
reaches the whole process group)."""
GOODBYE = b"done\n"
NOT_IN_PROJECT_NAMES = re.compile(r"[^a-z0-9_-]+")


class RoadError(UsageError):
    """The road asked for cannot be taken; the message says why."""


@dataclasses.dataclass(frozen=True)
class Road:
    """The road taken: its Compose command (empty on the local road) and why."""

    compose: tuple[str, ...]
    reason: str
    project: str = ""
    """The Compose project name (see `project_name`)."""
    profiles: tuple[str, ...] = ()
    """The Compose profiles to enable (see `compose_profiles`)."""

    @property
    def docker(self) -> bool:
        """True on the Docker road."""
        return bool(self.compose)

    def command(self, args: tuple[str, ...]) -> list[str]:
        """The full Compose command line for `args`, on this project and file."""
        enabled = [arg for name in self.profiles for arg in ("--profile", name)]
        return [
            *self.compose,
            "--project-name",
            self.project,
            "--file",
            str(COMPOSE_FILE),
            *enabled,
            *args,
        ]


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


def take_road(settings: Settings, quiet: bool = False) -> Road:
    """Choose the road for these settings and say which one and why (unless
    `quiet`: for output that must be JSON only)."""
    record = StackRecord.read_live(settings.state_dir)
    road = choose_road(settings.runtime, record.pid if record else None)
    if road.docker:
        road = dataclasses.replace(
            road,
            project=project_name(settings),
            profiles=compose_profiles(settings),
        )
    if not quiet:
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


def down_args(road: Road) -> tuple[str, ...]:
    """`make stop`: keep the volumes of a project whose services keep their
    data in one (postgres: until `make clean-sql`), else remove them with the
    containers."""
    keeping = any(SERVICES[name].keeps_volumes for name in road.profiles)
    return DOWN_KEEPING_DATA if keeping else DOWN


def pg_data_volume(road: Road) -> str:
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


def up(road: Road, settings: Settings) -> int:
    """`make run`: the stack in the foreground, loaded once `populate` has run.

    Returns Compose's exit status. The banner follows `populate`'s exit (the
    Docker engine's `die` event), so it comes once the data folder is loaded.
    """
    launched = time.monotonic()
    die_with_parent(signal.SIGTERM)  # `make` killed: go too, the watchdog stops
    if settings.exposed:
        console.warn(
            f"publishing on {settings.bind}: anyone who can reach this machine on "
            f"ports {settings.aws_port} and {settings.redis_port} can read and "
            "change the stack, which has no authentication."
        )
    console.note(f"Compose project {road.project} ({COMPOSE_FILE})")
    since = f"{time.time():.3f}"
    watchdog = subprocess.Popen(  # pylint: disable=consider-using-with
        ["/bin/sh", "-c", WATCHDOG, "inframock-watchdog", *road.command(STOP)],
        stdin=subprocess.PIPE,
    )
    events = _populate_exits(road.project, since)
    sys.stdout.flush()
    try:
        compose = subprocess.Popen(  # pylint: disable=consider-using-with
            road.command(UP), stdin=subprocess.DEVNULL
        )
    except OSError as err:
        console.error(f"cannot run {road.compose[0]}: {err}")
        compose = None
    # Ctrl-C reaches Compose too, which stops the stack: wait for it to finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if events is not None and compose is not None:
        announce = functools.partial(_announce, road, settings, launched)
        threading.Thread(
            target=announce, args=(events.stdout,), name="banner", daemon=True
        ).start()
    code = 127 if compose is None else compose.wait()
    if events is not None:
        events.terminate()
    assert watchdog.stdin is not None
    watchdog.stdin.write(GOODBYE)
    watchdog.stdin.close()
    watchdog.wait()
    return code


def _populate_exits(project: str, since: str) -> subprocess.Popen[str] | None:
    """The Docker engine's `die` events of the project's containers, from `since`.

    Started before Compose, so `populate`'s exit cannot be missed; the events
    process dies with this one.
    """
    command = ["docker", "events", "--since", since, "--filter", "type=container"]
    command += ["--filter", "event=die"]
    command += ["--filter", f"label=com.docker.compose.project={project}"]
    command += ["--format", "{{json .Actor.Attributes}}"]
    try:
        # pylint: disable-next=consider-using-with,subprocess-popen-preexec-fn
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=functools.partial(die_with_parent, parent=os.getpid()),
        )
    except OSError as err:
        console.warn(f"no ready banner: cannot follow the engine's events ({err})")
        return None


def _announce(road: Road, settings: Settings, launched: float, lines: IO[str]) -> None:
    """Print the banner (or why not) when the `populate` container exits."""
    for line in lines:
        try:
            attributes = json.loads(line)
        except ValueError:
            continue
        if (
            attributes.get("com.docker.compose.service") != "populate"
            or attributes.get("com.docker.compose.oneoff") == "True"
        ):
            continue
        code = attributes.get("exitCode", "?")
        if code == "0":
            after_load(road, settings)
            banner(road, settings, time.monotonic() - launched)
        else:
            console.error(
                f"loading failed: populate exited with code {code} (its lines above "
                "say why). aws and redis keep running: fix the data folder, then "
                "`make reload-data`."
            )
        return


def after_load(road: Road, settings: Settings, wait: float = AFTER_LOAD_WAIT) -> int:
    """Each service's own part of the data folder (postgres: `sql/*.json`), as
    `make run` does on the embedded road once it is loaded: from this process,
    through the published ports, once the service answers. 0, or 1 with a
    warning if a service's step failed or Compose runs no container of it."""
    code, states = 0, None
    for service in services_for(settings):
        if service.after_load is None:
            continue
        states = container_states(road) if states is None else states
        if service.name not in states:
            console.warn(
                f"Compose runs no {service.name} container: its part of the data "
                "folder was not loaded"
            )
            code = 1
            continue
        code = max(code, service.after_load(settings, wait))
    return code


def banner(road: Road, settings: Settings, seconds: float) -> None:
    """The ready banner on the Docker road, from what the running stack holds
    (the AWS engine's version as the `aws` container says)."""
    # Imported here: boto3 behind them is not needed by every command.
    # pylint: disable-next=import-outside-toplevel
    from inframock.features.seed.seed import loading_skipped_because

    # pylint: disable-next=import-outside-toplevel
    from inframock.features.status import collect_status

    engine = engine_version(road) or "?"
    status = collect_status(settings, aws_version=engine)
    skipped = loading_skipped_because(settings)
    if skipped:
        loaded = f"nothing ({skipped})"
    else:
        items = sum(sum(e.items.values()) for e in status.experiments.values())
        stored = sum(b.usage.bytes for b in status.buckets.values())
        loaded = (
            f"{console.plural(len(status.experiments), 'experiment')}, "
            f"{console.plural(items, 'item')}, {console.size(stored)} into S3"
        )
    declared = services_for(settings)
    ready = views_banner.Ready(
        settings,
        [
            (service.name, f"{service.version}, container")
            for service in status.services
        ],
        {d.name: d.address(settings) for d in declared},
        [row for d in declared for row in d.banner_rows(settings)],
    )
    views_banner.docker_banner(ready, road.project, loaded, seconds)


def engine_version(road: Road) -> str:
    """The AWS engine in the `aws` container, e.g. `moto 5.2.5`; '' if unknown."""
    output = _probe(road, ENGINE_VERSION)
    return "" if output is None else output.strip()


def _probe(road: Road, args: tuple[str, ...]) -> str | None:
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


def container_states(road: Road) -> dict[str, str]:
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
    road: Road, settings: Settings, known: set[str]
) -> list[tuple[str, str]]:
    """(service, state) of the profile's services that status cannot ask over a
    socket (the relay, which serves nothing): their container's state."""
    names = [s.name for s in services_for(settings) if s.name not in known]
    states = container_states(road) if names else {}
    return [(name, states.get(name, "no container")) for name in names]


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
    """Print the project and Compose's own view of its containers (before status)."""
    console.note(f"Compose project {road.project} ({COMPOSE_FILE})")
    sys.stdout.flush()
    try:
        subprocess.run(
            road.command(PS), stdin=subprocess.DEVNULL, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        console.warn(f"`{' '.join(road.command(PS))}` failed: {err}")
