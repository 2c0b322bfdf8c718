"""The `current` profile on the Compose road, checked without Docker.

Which Compose services `make run` starts is derived from the profile's
`services` (no branch on the profile's name): checked against the Compose file
for every profile. The `relay` service's command, `python -m populate relay`,
is run here as its container runs it (the container's environment, this
interpreter for the image's) against an engine provisioned by the `populate`
command, and delivers to a stand-in API; SIGTERM stops it at once. Stand-in
`docker` executables show what `make status` and `make stop` ask of Compose.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import boto3
import psycopg
import pytest
import yaml

from inframock.aws.endpoint import check_endpoint_is_local
from inframock.core.settings import PROFILES
from inframock.model.profiles import stack_for
from inframock.core.settings import Settings
from inframock.roads.compose import project as compose_project
from inframock.roads.compose.project import compose_profiles, down_args, project_name
from inframock.roads.compose.road import ComposeRoad
from inframock.roads.compose.up import after_load
from inframock.features.status import collect_status
from inframock.testing.harness import (
    RunningStack,
    base_env,
    cli,
    engine_process,
    free_port,
    wait_until,
)
from tests.helpers import Receiver, assert_relayed

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
TOPIC_ARN = "arn:aws:sns:eu-west-1:000000000000:work-results-development-default-v2"
STOPPED_WITHIN = 5.0
"""Seconds the relay may take to exit after SIGTERM (its poll is 1 s)."""


@pytest.fixture(scope="module", name="spec")
def fixture_spec() -> dict[str, Any]:
    """docker-compose.yml, parsed."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def settings_of(profile: str, tmp: Path) -> Settings:
    """The settings of `profile`, with no .env."""
    return Settings.load({"INFRAMOCK_PROFILE": profile}, env_file=tmp / "none")


def started_services(spec: dict[str, Any], profiles: tuple[str, ...]) -> set[str]:
    """The services `docker compose --profile …` starts: those in no Compose
    profile, and those in one of `profiles` (the Compose specification's rule)."""
    return {
        name
        for name, service in spec["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_compose_starts_exactly_the_profiles_services(
    spec: dict[str, Any], profile: str, tmp_path: Path
) -> None:
    settings = settings_of(profile, tmp_path)
    profiles = compose_profiles(settings)
    expected = set(stack_for(settings).services) | {"populate"}
    assert started_services(spec, profiles) == expected


def test_the_current_profile_starts_relay_and_postgres_and_2021_neither(
    spec: dict[str, Any], tmp_path: Path
) -> None:
    current = started_services(spec, compose_profiles(settings_of("current", tmp_path)))
    old = started_services(spec, compose_profiles(settings_of("2021", tmp_path)))
    assert current - old == {"relay", "postgres"}
    assert old == {"aws", "redis", "populate"}


def test_each_optional_service_is_in_the_compose_profile_of_its_name(
    spec: dict[str, Any], tmp_path: Path
) -> None:
    """The convention `compose_profiles` relies on, and no service nobody runs."""
    run_by_some = {
        name
        for profile in PROFILES
        for name in stack_for(settings_of(profile, tmp_path)).services
    }
    optional = {n: s for n, s in spec["services"].items() if "profiles" in s}
    assert set(optional) == {"relay", "postgres"}
    for name, service in optional.items():
        assert service["profiles"] == [name]
        assert name in run_by_some


def test_every_compose_command_enables_the_profiles(tmp_path: Path) -> None:
    road = ComposeRoad(
        "test",
        ("docker", "compose"),
        "proj",
        compose_profiles(settings_of("current", tmp_path)),
    )
    assert road.command(compose_project.DOWN) == [
        "docker",
        "compose",
        "--project-name",
        "proj",
        "--file",
        str(compose_project.COMPOSE_FILE),
        *("--profile", "aws", "--profile", "redis"),
        *("--profile", "relay", "--profile", "postgres"),
        "down",
        "--volumes",
    ]


def test_the_relay_service_is_the_populate_image_reaching_the_host(
    spec: dict[str, Any],
) -> None:
    services = spec["services"]
    relay = services["relay"]
    assert relay["build"] == services["populate"]["build"]
    assert relay["command"] == ["python", "-m", "populate", "relay"]
    assert relay["extra_hosts"] == ["host.docker.internal:host-gateway"]
    assert relay["depends_on"] == {"aws": {"condition": "service_healthy"}}
    assert relay["init"] is True  # tini as PID 1 forwards SIGTERM to the relay
    env = relay["environment"]
    check_endpoint_is_local(
        env["INFRAMOCK_AWS_ENDPOINT"], env["INFRAMOCK_ALLOW_ENDPOINT"]
    )
    for name in ("AWS_DEFAULT_REGION", "SANDBOX_ID", "INFRAMOCK_PROFILE"):
        assert env[name] == services["populate"]["environment"][name]
    assert (
        env["BIOMAGE_API_URL"] == services["populate"]["environment"]["BIOMAGE_API_URL"]
    )


def test_postgres_publishes_the_embedded_roads_port_and_init(
    spec: dict[str, Any],
) -> None:
    postgres = spec["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16.")
    assert postgres["ports"] == [
        "${INFRAMOCK_BIND:-127.0.0.1}:${INFRAMOCK_POSTGRES_PORT:-5431}:5432"
    ]
    assert postgres["environment"]["POSTGRES_DB"] == "aurora_db"
    assert any("init.sql" in volume for volume in postgres["volumes"])


# The relay command, as its container runs it --------------------------------


def container_env(
    spec: dict[str, Any], service: str, **overrides: str
) -> dict[str, str]:
    """A service's environment as Compose gives it with nothing set, then
    `overrides`; the package importable, nothing else inherited."""
    env = {
        name: _defaulted(str(value))
        for name, value in spec["services"][service]["environment"].items()
    }
    env.update(PATH="/usr/bin:/bin", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.update(overrides)
    return env


def _defaulted(value: str) -> str:
    """`${NAME:-default}` as Compose reads it with NAME unset."""
    if value.startswith("${") and value.endswith("}"):
        return value[2:-1].partition(":-")[2]
    return value


def container_command(spec: dict[str, Any], service: str) -> list[str]:
    """The service's command with this interpreter for the image's."""
    command = spec["services"][service]["command"]
    return [sys.executable if part == "python" else part for part in command]


@pytest.fixture(name="engine")
def fixture_engine(tmp_path: Path) -> Iterator[str]:
    """inframock's AWS engine (the aws service's entry point) on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "inframock.engine", "127.0.0.1", str(port)]
    env = {**os.environ, "MOTO_ACCOUNT_ID": "000000000000", "MOTO_PORT": str(port)}
    with engine_process(command, port, env, tmp_path) as endpoint:
        yield endpoint


@pytest.fixture(name="receiver")
def fixture_receiver() -> Iterator[Receiver]:
    """The stand-in API the relay delivers to."""
    server = Receiver()
    yield server
    server.close()


def test_the_relay_command_delivers_and_stops_on_sigterm(
    spec: dict[str, Any], engine: str, receiver: Receiver, tmp_path: Path
) -> None:
    current = {"INFRAMOCK_PROFILE": "current", "INFRAMOCK_AWS_ENDPOINT": engine}
    relay_env = container_env(spec, "relay", **current, INFRAMOCK_RELAY_DELAYS="1,2")
    log = tmp_path / "relay.log"
    with log.open("w") as out:
        # Started before populate provisions its queue, as Compose may start it.
        relay = subprocess.Popen(  # pylint: disable=consider-using-with
            container_command(spec, "relay"),
            env=relay_env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "waiting for" in log.read_text(), 30, "the relay waiting")
        (tmp_path / "data").mkdir()
        seeded = subprocess.run(
            container_command(spec, "populate"),
            env=container_env(
                spec,
                "populate",
                **current,
                BIOMAGE_DATA_PATH=str(tmp_path / "data"),
                INFRAMOCK_STATE_DIR=str(tmp_path / "state"),
            ),
            timeout=120,
            check=False,
            capture_output=True,
            cwd=tmp_path,
            text=True,
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        wait_until(lambda: "relaying" in log.read_text(), 30, "the relay draining")
        assert_relayed(
            boto3.client(
                "sns",
                endpoint_url=engine,
                region_name="eu-west-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
            ),
            TOPIC_ARN,
            receiver.received,
            "GEM2SResponse",
            "/v2/gem2sResults",
            {"experimentId": "e1", "apiUrl": receiver.url, "status": "ok"},
        )
        started = time.monotonic()
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=STOPPED_WITHIN) == 0
        assert time.monotonic() - started < STOPPED_WITHIN
        assert "SIGTERM: stopping" in log.read_text()
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()


def test_the_relay_command_refuses_a_profile_without_a_relay(
    tmp_path: Path, engine: str
) -> None:
    env = base_env(tmp_path, INFRAMOCK_PROFILE="2021", INFRAMOCK_AWS_ENDPOINT=engine)
    result = cli(env, "relay", timeout=30)
    assert result.returncode != 0
    assert "profile 2021 has no result relay" in result.stdout


def test_the_relay_command_refuses_a_remote_endpoint(tmp_path: Path) -> None:
    env = base_env(
        tmp_path,
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_AWS_ENDPOINT="https://sqs.eu-west-1.amazonaws.com",
    )
    result = cli(env, "relay", timeout=30)
    assert result.returncode != 0
    assert "sqs.eu-west-1.amazonaws.com" in result.stdout


# What status and stop ask of Compose, through a stand-in docker -------------

STAND_IN_DOCKER = """#!/bin/sh
printf '%s\\037' "$@" >> '{log}'
printf '\\n' >> '{log}'
case "$*" in
  "compose version") exit 0 ;;
  *"ps --all --format json"*)
    echo '{{"Service":"aws","State":"running"}}'
    echo '{{"Service":"relay","State":"{relay}"}}'
    [ -n "{postgres}" ] && echo '{{"Service":"postgres","State":"running"}}'
    exit 0 ;;
esac
exit 0
"""


def stand_in_env(
    tmp_path: Path, relay_state: str, postgres: bool = False
) -> tuple[dict[str, str], Path]:
    """A PATH with only a stand-in `docker`, whose Compose says the relay is
    `relay_state` (and lists a running postgres if `postgres`); and the log of
    its calls."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "calls.log"
    script = folder / "docker"
    script.write_text(
        STAND_IN_DOCKER.format(
            log=log, relay=relay_state, postgres="yes" if postgres else ""
        )
    )
    script.chmod(0o755)
    env = base_env(
        tmp_path,
        PATH=str(folder),
        INFRAMOCK_RUNTIME="docker",
        INFRAMOCK_PROFILE="current",
    )
    return env, log


def calls(log: Path) -> list[list[str]]:
    """The stand-in's calls, as argument vectors."""
    return [line.split("\x1f")[:-1] for line in log.read_text().splitlines()]


@pytest.mark.parametrize("state", ["running", "exited"])
def test_status_on_the_docker_road_shows_the_relay_container(
    tmp_path: Path, state: str
) -> None:
    env, log = stand_in_env(tmp_path, state)
    result = cli(env, "status", "--json", timeout=60)
    report = json.loads(result.stdout)
    services = {s["name"]: s for s in report["services"]}
    assert list(services) == ["aws", "redis", "postgres", "relay"]
    assert services["relay"]["up"] is (state == "running")
    assert services["relay"]["version"] == state
    asked = [c for c in calls(log) if "ps" in c]
    assert asked and all("--profile" in c and "relay" in c for c in asked)
    assert result.returncode == 1  # nothing answers on the free ports


def test_stop_on_the_docker_road_stops_the_profiles_services_keeping_pg_data(
    tmp_path: Path,
) -> None:
    env, log = stand_in_env(tmp_path, "running")
    result = cli(env, "stop", timeout=60)
    assert result.returncode == 0, result.stdout
    down = calls(log)[-1]
    assert down[-1] == "down"  # no --volumes: PostgreSQL's data persists
    enabled = [down[i + 1] for i, arg in enumerate(down) if arg == "--profile"]
    assert enabled == ["aws", "redis", "relay", "postgres"]


def test_stop_without_postgres_still_removes_the_volumes() -> None:
    road = ComposeRoad("", ("docker", "compose"), "proj", ("aws", "redis"))
    assert down_args(road) == ("down", "--volumes")


def test_clean_sql_on_the_docker_road_removes_the_projects_pg_data_volume(
    tmp_path: Path,
) -> None:
    env, log = stand_in_env(tmp_path, "running")
    result = cli(env, "clean-sql", timeout=60)
    assert result.returncode == 0, result.stdout
    project = project_name(settings_of("current", tmp_path))
    assert calls(log)[-1] == ["volume", "rm", f"{project}_pg_data"]


# SQL seeding on the Docker road: the same loader, through the published port --


@pytest.fixture(name="postgres_stack")
def fixture_postgres_stack() -> Iterator[RunningStack]:
    """A `current` stack whose PostgreSQL stands in for the postgres container."""
    folder = Path(tempfile.mkdtemp(prefix="inframock-pg-"))
    env = base_env(folder, INFRAMOCK_PROFILE="current")
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True)
    stack = RunningStack(env)
    try:
        yield stack.wait_ready()
    finally:
        stack.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_make_run_on_the_docker_road_seeds_sql_once_postgres_answers(
    postgres_stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(postgres_stack.env["INFRAMOCK_POSTGRES_PORT"])
    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="aurora_db"
    ) as connection:
        connection.execute("CREATE TABLE experiment (id text PRIMARY KEY, name text)")
    data = tmp_path / "data"
    (data / "exp-sql" / "sql").mkdir(parents=True)
    rows = [{"id": "exp-sql", "name": "from the data folder"}]
    (data / "exp-sql" / "sql" / "experiment.json").write_text(json.dumps(rows))
    settings = Settings.load(
        {
            "INFRAMOCK_PROFILE": "current",
            "INFRAMOCK_POSTGRES_PORT": str(port),
            "INFRAMOCK_AWS_PORT": postgres_stack.env["INFRAMOCK_AWS_PORT"],
            "INFRAMOCK_REDIS_PORT": postgres_stack.env["INFRAMOCK_REDIS_PORT"],
            "INFRAMOCK_STATE_DIR": str(tmp_path / "no-record"),
            "BIOMAGE_DATA_PATH": str(data),
        },
        env_file=tmp_path / "none",
    )
    env, _ = stand_in_env(tmp_path, "running", postgres=True)
    monkeypatch.setenv("PATH", env["PATH"])
    road = ComposeRoad("test", ("docker", "compose"), "proj", ("postgres",))
    assert after_load(road, settings, wait=10) == 0
    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="aurora_db"
    ) as connection:
        found = connection.execute("SELECT id, name FROM experiment").fetchall()
    assert found == [("exp-sql", "from the data folder")]
    # Twice changes nothing (idempotent, as on the embedded road).
    assert after_load(road, settings, wait=10) == 0
    # `make status` without a record of `make run` (a container): the server
    # says its own version.
    services = {s.name: s for s in collect_status(settings).services}
    assert services["postgres"].up
    assert services["postgres"].version.startswith("postgresql 1")


def test_without_a_postgres_container_sql_seeding_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env, _ = stand_in_env(tmp_path, "running")  # its Compose lists no postgres
    monkeypatch.setenv("PATH", env["PATH"])
    road = ComposeRoad("test", ("docker", "compose"), "proj", ("postgres",))
    settings = settings_of("current", tmp_path)
    assert after_load(road, settings, wait=1) == 1
    assert "Compose runs no postgres container" in capsys.readouterr().out
