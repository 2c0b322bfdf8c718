"""`make run` on the Docker road: Compose in the foreground, and the banner.

Compose runs the stack described by docker-compose.yml, and the `populate`
service provisions and loads it with the same `inframock seed` the embedded
road runs in process. `make run` stays Compose's parent only to print the
ready banner once `populate` has exited, and to keep the embedded road's
promise that a killed `make run` leaves nothing running: a watchdog shell
stops the project's containers when this process dies without saying goodbye.
Ctrl-C reaches Compose itself, which stops the containers; the exit status is
Compose's own.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, TYPE_CHECKING

from inframock.core import console
from inframock.core.parent_death import die_with_parent
from inframock.core.settings import Settings
from inframock.roads.compose.probes import container_states, engine_version
from inframock.roads.compose.project import COMPOSE_FILE, STOP, UP
from inframock.services.base import AFTER_LOAD_WAIT
from inframock.services.registry import services_for
from inframock.views import banner as views_banner

if TYPE_CHECKING:
    from inframock.roads.compose.road import ComposeRoad

WATCHDOG = 'trap \'\' INT TERM HUP; read -r line; [ "$line" = done ] || exec "$@"'
"""Run by /bin/sh with a pipe from `make run` as stdin: `done` means a clean
exit; end of file without it means `make run` died, so it runs the stop command
given as its arguments. It ignores the signals that stop `make run` (Ctrl-C
reaches the whole process group)."""
GOODBYE = b"done\n"


def up(road: ComposeRoad, settings: Settings) -> int:
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


def _announce(
    road: ComposeRoad, settings: Settings, launched: float, lines: IO[str]
) -> None:
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


def after_load(
    road: ComposeRoad, settings: Settings, wait: float = AFTER_LOAD_WAIT
) -> int:
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


def banner(road: ComposeRoad, settings: Settings, seconds: float) -> None:
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
