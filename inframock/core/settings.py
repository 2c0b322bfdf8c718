"""Every setting inframock reads, typed and defaulted, in one place (their
names, defaults and help text are listed in inframock.core.settings_list).

Settings come from the process environment, then from a `.env` file in the
working directory (the environment wins, as with Docker Compose). Nothing else
in the package reads `os.environ` for configuration; it receives a `Settings`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Literal, Mapping, cast, get_args

from dotenv import dotenv_values
from inframock.core.errors import UsageError
from inframock.core.settings_list import SETTINGS

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
COMPOSE_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
"""What Compose accepts as a project name."""


class SettingsError(UsageError, ValueError):
    """A setting has a value inframock cannot use; the message names it."""


PROFILES = {
    "2021": "inframock.model.cellenics_2021",
    "current": "inframock.model.cellenics_current",
}
"""The one registry of profiles: each name `INFRAMOCK_PROFILE` may take (the
first is the default) and the module of inframock.model defining its stack.
The module is named, not imported (core imports no model): checking the name
here lets every command refuse an unknown profile before it does anything,
and `inframock.model.profiles` imports the module when the stack is asked for."""
DEFAULT_PROFILE = next(iter(PROFILES))

ENGINES = {
    "moto": "inframock.services.engines.moto",
    "ministack": "inframock.services.engines.ministack",
}
"""The one registry of AWS engines, as PROFILES is of profiles: each name
`INFRAMOCK_ENGINE` may take (the first is the default) and the module of
inframock.services.engines that starts it (`aws_service` there)."""
DEFAULT_ENGINE = next(iter(ENGINES))

Runtime = Literal["local", "docker", "auto"]
RUNTIMES: tuple[Runtime, ...] = get_args(Runtime)
LogMode = Literal["ops", "http", "quiet"]
LOG_MODES: tuple[LogMode, ...] = get_args(LogMode)


def _truthy(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name}={value!r}: expected true or false")


def _positive(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise SettingsError(f"{name}={value!r}: expected a positive whole number")
    return number


def _port(name: str, value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a port number") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name}={value!r}: a port is between 1 and 65535")
    return port


def _project(value: str) -> str:
    project = value.strip()
    if project and not COMPOSE_PROJECT.fullmatch(project):
        raise SettingsError(
            f"INFRAMOCK_COMPOSE_PROJECT={value!r}: a Compose project name is "
            "lowercase letters, digits, `-` and `_`, starting with a letter or digit"
        )
    return project


def _profile(value: str) -> str:
    profile = value.strip() or DEFAULT_PROFILE
    if profile not in PROFILES:
        expected = ", ".join(PROFILES)
        raise SettingsError(f"INFRAMOCK_PROFILE={value!r}: expected one of {expected}")
    return profile


def _engine(value: str) -> str:
    engine = value.strip().lower() or DEFAULT_ENGINE
    if engine not in ENGINES:
        expected = ", ".join(ENGINES)
        raise SettingsError(f"INFRAMOCK_ENGINE={value!r}: expected one of {expected}")
    return engine


def _delays(value: str) -> tuple[float, float] | None:
    if not value.strip():
        return None
    try:
        low, high = (float(part) for part in value.split(","))
    except ValueError:
        low, high = -1.0, -1.0
    if not 0 <= low <= high:
        raise SettingsError(
            f"INFRAMOCK_RELAY_DELAYS={value!r}: expected min,max seconds, "
            "0 <= min <= max (e.g. 10,60)"
        )
    return low, high


def _runtime(value: str) -> Runtime:
    runtime = value.strip().lower() or "auto"
    if runtime not in RUNTIMES:
        expected = ", ".join(RUNTIMES)
        raise SettingsError(f"INFRAMOCK_RUNTIME={value!r}: expected one of {expected}")
    return cast(Runtime, runtime)


def _log_mode(value: str) -> LogMode:
    mode = value.strip().lower() or "ops"
    if mode not in LOG_MODES:
        expected = ", ".join(LOG_MODES)
        raise SettingsError(f"INFRAMOCK_LOG={value!r}: expected one of {expected}")
    return cast(LogMode, mode)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved configuration of one inframock stack."""

    data_path: Path
    populate_mock: bool
    cluster_env: str
    region: str
    sandbox_id: str
    api_url: str
    bind: str
    aws_port: int
    redis_port: int
    aws_endpoint_override: str
    allow_endpoint: str
    redis_server: str
    state_dir: Path
    rds_limit: int
    """Largest gunzipped r.rds accepted, in bytes."""
    persist: bool = False
    """Keep the stack's whole state across restarts (inframock.engine.persistence)."""
    cache_limit: int = 20480 * 1024 * 1024
    """Bytes the object cache may keep (data/object_cache.py)."""
    max_table_file_mb: int = 500
    """Largest table file loaded, in MB (a bigger one is refused, named)."""
    runtime: Runtime = "auto"
    """The road: `local`, `docker` or `auto` (see inframock.roads.choice)."""
    pull_endpoint: str = ""
    """Where `pull` reads another environment from; empty means real AWS."""
    snapshot_dir: Path = Path("snapshots")
    compose_project: str = ""
    """The Compose project on the Docker road; empty: derived from the checkout."""
    log: LogMode = "ops"
    """What the AWS engine logs (see inframock.engine.oplog)."""
    profile: str = DEFAULT_PROFILE
    """Which Cellenics stack is served (inframock.model.profiles)."""
    engine: str = DEFAULT_ENGINE
    """Which AWS engine serves the stack (inframock.services.engines)."""
    relay_delays: tuple[float, float] | None = None
    """Min and max seconds between relay retries; None: the topic's policy."""
    postgres_port: int = 5431
    postgres_bin: str = ""
    iac_path: Path = Path("../iac")
    api_path: Path = Path("../api")
    dev_account: str = "BIOMAGE"
    pipeline_command: str = ""
    """Runs the pipeline runner natively instead of `docker run` (launcher)."""
    pipeline_host_ip: str = ""
    activity_poll_seconds: int = 60

    @property
    def persist_dir(self) -> Path:
        """Where the AWS engine keeps its saved state (INFRAMOCK_PERSIST)."""
        return self.state_dir / "persist"

    @property
    def redis_dir(self) -> Path:
        """Where Redis keeps its dump when the state persists."""
        return self.state_dir / "redis"

    @property
    def client_host(self) -> str:
        """The address a client on this machine uses to reach the services."""
        return "127.0.0.1" if self.bind in {"0.0.0.0", "::", ""} else self.bind

    @property
    def aws_endpoint(self) -> str:
        """The AWS endpoint the loader and status talk to."""
        return self.aws_endpoint_override or (
            f"http://{url_host(self.client_host)}:{self.aws_port}"
        )

    @property
    def redis_url(self) -> str:
        """The Redis URL clients on this machine use."""
        return f"redis://{self.client_host}:{self.redis_port}"

    @property
    def exposed(self) -> bool:
        """True when the services listen beyond this machine's loopback."""
        return self.bind not in LOOPBACK_HOSTS and not self.bind.startswith("127.")

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None
    ) -> "Settings":
        """Resolve settings from `environ` (default: os.environ) over `.env`."""
        return cls.from_raw(raw_settings(environ, env_file))

    @classmethod
    def from_raw(cls, raw: Mapping[str, str]) -> "Settings":
        """Settings from one string per SETTINGS name (as `raw_settings` gives)."""
        return cls(
            data_path=Path(raw["BIOMAGE_DATA_PATH"]).expanduser(),
            populate_mock=_truthy("POPULATE_MOCK", raw["POPULATE_MOCK"]),
            cluster_env=raw["CLUSTER_ENV"].strip(),
            region=raw["AWS_DEFAULT_REGION"].strip() or "eu-west-1",
            sandbox_id=raw["SANDBOX_ID"].strip() or "default",
            api_url=raw["BIOMAGE_API_URL"].strip().rstrip("/"),
            bind=raw["INFRAMOCK_BIND"].strip() or "127.0.0.1",
            aws_port=_port("INFRAMOCK_AWS_PORT", raw["INFRAMOCK_AWS_PORT"]),
            redis_port=_port("INFRAMOCK_REDIS_PORT", raw["INFRAMOCK_REDIS_PORT"]),
            aws_endpoint_override=raw["INFRAMOCK_AWS_ENDPOINT"].strip().rstrip("/"),
            allow_endpoint=raw["INFRAMOCK_ALLOW_ENDPOINT"].strip(),
            redis_server=raw["INFRAMOCK_REDIS_SERVER"].strip(),
            state_dir=Path(raw["INFRAMOCK_STATE_DIR"]).expanduser(),
            rds_limit=_positive("INFRAMOCK_RDS_LIMIT_MB", raw["INFRAMOCK_RDS_LIMIT_MB"])
            * 1024
            * 1024,
            persist=_truthy("INFRAMOCK_PERSIST", raw["INFRAMOCK_PERSIST"]),
            cache_limit=_positive(
                "INFRAMOCK_CACHE_LIMIT_MB", raw["INFRAMOCK_CACHE_LIMIT_MB"]
            )
            * 1024
            * 1024,
            max_table_file_mb=_positive(
                "INFRAMOCK_MAX_TABLE_FILE_MB", raw["INFRAMOCK_MAX_TABLE_FILE_MB"]
            ),
            runtime=_runtime(raw["INFRAMOCK_RUNTIME"]),
            pull_endpoint=raw["INFRAMOCK_PULL_ENDPOINT"].strip().rstrip("/"),
            snapshot_dir=Path(raw["INFRAMOCK_SNAPSHOT_DIR"]).expanduser(),
            compose_project=_project(raw["INFRAMOCK_COMPOSE_PROJECT"]),
            log=_log_mode(raw["INFRAMOCK_LOG"]),
            profile=_profile(raw["INFRAMOCK_PROFILE"]),
            engine=_engine(raw["INFRAMOCK_ENGINE"]),
            relay_delays=_delays(raw["INFRAMOCK_RELAY_DELAYS"]),
            postgres_port=_port(
                "INFRAMOCK_POSTGRES_PORT", raw["INFRAMOCK_POSTGRES_PORT"]
            ),
            postgres_bin=raw["INFRAMOCK_POSTGRES_BIN"].strip(),
            iac_path=Path(raw["CELLENICS_IAC_PATH"]).expanduser(),
            api_path=Path(raw["CELLENICS_API_PATH"]).expanduser(),
            dev_account=raw["DEV_ACCOUNT"].strip() or "BIOMAGE",
            pipeline_command=raw["INFRAMOCK_PIPELINE_COMMAND"].strip(),
            pipeline_host_ip=raw["INFRAMOCK_PIPELINE_HOST_IP"].strip(),
            activity_poll_seconds=_positive(
                "INFRAMOCK_ACTIVITY_POLL_SECONDS",
                raw["INFRAMOCK_ACTIVITY_POLL_SECONDS"],
            ),
        )


def raw_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """One string per setting: `environ` (default os.environ), then `.env`, then
    the default."""
    environ = os.environ if environ is None else environ
    env_file = Path(".env") if env_file is None else env_file
    from_file = dotenv_values(env_file) if env_file.is_file() else {}
    return {
        s.name: environ.get(s.name, from_file.get(s.name) or s.default)
        for s in SETTINGS
    }


def portable_raw_settings() -> dict[str, str]:
    """This process's raw settings with its relative paths made absolute, so
    another process in another folder (the supervisor) reads them the same."""
    raw = raw_settings()
    for name in (
        "BIOMAGE_DATA_PATH",
        "INFRAMOCK_STATE_DIR",
        "INFRAMOCK_SNAPSHOT_DIR",
        "CELLENICS_IAC_PATH",
        "CELLENICS_API_PATH",
    ):
        raw[name] = str(Path(raw[name]).expanduser().absolute())
    return raw


def url_host(host: str) -> str:
    """`host` as it stands in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host else host
