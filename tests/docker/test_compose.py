"""The Docker road, checked without a Docker engine.

The Compose file is validated against the Compose specification and read for
what inframock promises (pinned images, ports on the configured address only,
healthchecks gating the loader); the loader's own command is run with the
container's environment against a real moto server; and the road choice is
driven through stand-in `docker` and `docker-compose` executables that record
how they were called, so nothing real is ever started.
"""

from __future__ import annotations

import ast
import dataclasses
import gzip
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
import yaml
from dotenv import dotenv_values

from inframock.aws.endpoint import EndpointRefused, check_endpoint_is_local
from inframock.core.settings import SETTINGS, Runtime, Settings, SettingsError
from inframock.roads.choice import RoadError, choose_road
from inframock.roads.compose.project import ENGINE_VERSION, project_name
from inframock.roads.compose.road import ComposeRoad
from inframock.roads.embedded.road import EmbeddedRoad
from inframock.testing.harness import base_env, cli, engine_process, free_port
from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    plot_record,
    write_json,
)

from tests.helpers import publish_to_an_api_that_is_down

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "populate" / "Dockerfile"
BIND_PREFIX = "${INFRAMOCK_BIND:-127.0.0.1}:"
VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
FULL_VERSION = re.compile(r"\d+\.\d+\.\d+([-.][\w.-]+)?")
POSTGRES_VERSION = re.compile(r"\d+\.\d+(-[\w.-]+)?")
"""PostgreSQL's own versions have two parts: 16.11 is a full version."""
SEED_COMMAND = ["python", "-m", "populate", "seed"]
EXPERIMENT = "exp-compose-1"
RDS = payload(300_000, seed=7)


@pytest.fixture(scope="module", name="spec")
def fixture_spec() -> dict[str, Any]:
    """docker-compose.yml, parsed."""
    return spec_of_file()


def defaulted(value: str) -> str:
    """`value` as Compose reads it with none of its variables set."""
    return VARIABLE.sub(lambda match: match.group(2) or "", value)


def pinned(image: str) -> bool:
    """True for `name:x.y.z...`: an explicit full version, never `latest`."""
    name, _, tag = image.rpartition(":")
    full = POSTGRES_VERSION if name == "postgres" else FULL_VERSION
    return "/" not in tag and bool(full.fullmatch(tag))


# The Compose file -------------------------------------------------------------


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the Compose specification it vendors (offline)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema"]
        + ["--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = validate(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_compose_file_that_breaks_the_specification(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("service_healthy", "healthy", 1))
    result = validate(broken)
    assert result.returncode == 1
    assert "service_healthy" in result.stdout


def test_every_image_is_pinned_to_an_explicit_version(spec: dict[str, Any]) -> None:
    services = spec["services"]
    images = {
        name: defaulted(s["image"]) for name, s in services.items() if "image" in s
    }
    assert set(images) == {"aws", "redis", "postgres"}
    assert all(pinned(image) for image in images.values()), images
    assert services["populate"]["build"] == {
        "context": ".",
        "dockerfile": "populate/Dockerfile",
    }
    bases = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert bases and all(pinned(base) for base in bases), bases


def test_images_can_be_swapped_by_variables(spec: dict[str, Any]) -> None:
    services = spec["services"]
    assert services["aws"]["image"].startswith("${INFRAMOCK_AWS_IMAGE:-")
    assert services["redis"]["image"].startswith("${INFRAMOCK_REDIS_IMAGE:-")


def test_env_example_shows_the_compose_images(spec: dict[str, Any]) -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for service, variable in (("aws", "AWS"), ("redis", "REDIS")):
        image = defaulted(spec["services"][service]["image"])
        assert f"# INFRAMOCK_{variable}_IMAGE={image}\n" in example


def test_the_moto_image_is_the_moto_of_requirements(spec: dict[str, Any]) -> None:
    pins = (ROOT / "requirements.txt").read_text()
    version = re.search(r"^moto\[server\]==(\S+)$", pins, re.MULTILINE)
    assert version is not None
    aws = defaulted(spec["services"]["aws"]["image"])
    assert aws == f"motoserver/moto:{version.group(1)}"


def test_ports_are_published_on_the_configured_address_only(
    spec: dict[str, Any],
) -> None:
    published = {
        name: service.get("ports", []) for name, service in spec["services"].items()
    }
    assert published == {
        "aws": [BIND_PREFIX + "${INFRAMOCK_AWS_PORT:-4566}:4566"],
        "redis": [BIND_PREFIX + "${INFRAMOCK_REDIS_PORT:-6379}:6379"],
        "postgres": [BIND_PREFIX + "${INFRAMOCK_POSTGRES_PORT:-5431}:5432"],
        "populate": [],
        "relay": [],  # it serves nothing: it drains a queue and POSTs
    }
    assert all("expose" not in s for s in spec["services"].values())


def test_aws_listens_on_4566_as_the_cellenics_account(spec: dict[str, Any]) -> None:
    aws = spec["services"]["aws"]
    assert aws["environment"]["MOTO_PORT"] == "4566"
    assert aws["environment"]["MOTO_ACCOUNT_ID"] == "000000000000"
    assert aws["extra_hosts"] == ["host.docker.internal:host-gateway"]


ENGINE_COMMAND = "python -m inframock.engine 0.0.0.0 4566"
MOTO_DEPENDENCIES = {"moto", "werkzeug", "requests", "boto3", "botocore"}
"""What the moto image has besides the standard library (moto requires each;
moto's own backends import boto3 and botocore)."""


def test_aws_runs_inframocks_engine_on_the_moto_image(spec: dict[str, Any]) -> None:
    aws = spec["services"]["aws"]
    assert aws["entrypoint"] == "${INFRAMOCK_AWS_ENTRYPOINT:-" + ENGINE_COMMAND + "}"
    assert "command" not in aws and "build" not in aws
    assert aws["volumes"] == ["./inframock:/opt/inframock/inframock:ro"]
    assert aws["environment"]["PYTHONPATH"] == "/opt/inframock"
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert f"# INFRAMOCK_AWS_ENTRYPOINT={ENGINE_COMMAND}\n" in example


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports when it runs (not for type checking only)."""
    names: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        pending.extend(ast.iter_child_nodes(node))
    return names


def module_file(name: str) -> Path:
    """The file of an inframock module in this checkout."""
    path = ROOT.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def test_the_engine_package_needs_only_what_the_moto_image_has() -> None:
    """The mounted package runs on the moto image: the engine, and whatever of
    inframock it imports, need nothing but moto's own dependencies."""
    pending = [ROOT / "inframock" / "__init__.py"]
    pending += sorted(
        path
        for path in (ROOT / "inframock" / "engine").rglob("*.py")
        # MiniStack's launcher runs in its own virtualenv, never on the moto image.
        if "ministack" not in path.relative_to(ROOT).parts
    )
    seen: set[Path] = set()
    outside = {}
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top == "inframock":
                pending.append(module_file(name))
            elif not (top in MOTO_DEPENDENCIES or top in sys.stdlib_module_names):
                outside[str(path.relative_to(ROOT))] = name
    assert len(seen) > 3 and not outside, outside


def test_redis_keeps_nothing_on_disk(spec: dict[str, Any]) -> None:
    assert spec["services"]["redis"]["command"] == [
        "--save",
        "",
        "--appendonly",
        "no",
    ]


def test_the_loader_starts_only_once_aws_and_redis_are_healthy(
    spec: dict[str, Any],
) -> None:
    services = spec["services"]
    for name in ("aws", "redis"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and check["retries"] > 0
    assert services["populate"]["depends_on"] == {
        "aws": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_the_loader_is_the_embedded_entry_point_run_once(
    spec: dict[str, Any],
) -> None:
    populate = spec["services"]["populate"]
    assert populate["command"] == SEED_COMMAND
    assert f"CMD {SEED_COMMAND}".replace("'", '"') in DOCKERFILE.read_text()
    assert populate["restart"] == "no"
    assert populate["volumes"] == [
        "${BIOMAGE_DATA_PATH:-./data}:/data:ro",
        "state:/state",
    ]
    env = populate["environment"]
    assert env["BIOMAGE_DATA_PATH"] == "/data"
    assert defaulted(env["BIOMAGE_API_URL"]) == "http://host.docker.internal:3000"
    passed_through = {"POPULATE_MOCK", "CLUSTER_ENV", "AWS_DEFAULT_REGION"}
    passed_through |= {"SANDBOX_ID", "BIOMAGE_API_URL", "INFRAMOCK_PROFILE"}
    assert all(env[name].startswith(f"${{{name}:-") for name in passed_through)


def test_the_loaders_record_outlives_its_container(spec: dict[str, Any]) -> None:
    """`run --rm` removes the container: the digest record must live elsewhere."""
    env = spec["services"]["populate"]["environment"]
    assert env["INFRAMOCK_STATE_DIR"] == "/state"
    assert "state:/state" in spec["services"]["populate"]["volumes"]
    assert "state" in spec["volumes"]


def test_the_file_runs_on_compose_v1_too(spec: dict[str, Any]) -> None:
    """Compose v1 (1.29) accepts only these top-level keys (`name` breaks it)."""
    assert set(spec) <= {"version", "services", "volumes", "networks", "configs"}
    assert set(spec) - {"services", "volumes"} == set()


def test_env_example_changes_no_road() -> None:
    """Every uncommented assignment is the default of its setting on both roads.

    An empty value counts as unset (inframock and Compose's `:-` alike).
    """
    example = dotenv_values(ROOT / ".env.example")
    defaults = {s.name: s.default for s in SETTINGS}
    compose_defaults: dict[str, set[str]] = {}
    for match in VARIABLE.finditer(COMPOSE_FILE.read_text()):
        compose_defaults.setdefault(match.group(1), set()).add(match.group(2) or "")
    assert example, "no assignment at all: the test would prove nothing"
    for name, value in example.items():
        assert name in defaults, f"{name} is no setting of inframock"
        if not value:
            continue
        assert value == defaults[name], f"{name}={value} is not the default"
        assert compose_defaults.get(name, {value}) == {value}, (
            f"{name}={value} changes the Docker road, whose default is "
            f"{compose_defaults[name]}"
        )


def test_the_endpoint_guard_allows_exactly_the_compose_endpoint(
    spec: dict[str, Any],
) -> None:
    env = spec["services"]["populate"]["environment"]
    check_endpoint_is_local(
        env["INFRAMOCK_AWS_ENDPOINT"], env["INFRAMOCK_ALLOW_ENDPOINT"]
    )
    with pytest.raises(EndpointRefused):
        check_endpoint_is_local(env["INFRAMOCK_AWS_ENDPOINT"], "")


def test_docker_build_context_leaves_out_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "data", ".inframock", "tests", ".env"} <= ignored


# The loader, with the container's environment, against a real server ------------


@pytest.fixture(scope="module", name="moto_endpoint")
def fixture_moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The aws service's engine as its container runs it, on a free local port.

    Its entry point and environment from the Compose file, with this
    interpreter for the image's, 127.0.0.1 for 0.0.0.0, and a PYTHONPATH that
    holds only the package, as the read-only mount does.
    """
    aws = spec_of_file()["services"]["aws"]
    port = free_port()
    swap = {"python": sys.executable, "0.0.0.0": "127.0.0.1", "4566": str(port)}
    command = [swap.get(part, part) for part in defaulted(aws["entrypoint"]).split()]
    mount = tmp_path_factory.mktemp("aws-mount")
    (mount / "inframock").symlink_to(ROOT / "inframock")
    env = {name: defaulted(str(value)) for name, value in aws["environment"].items()}
    env.update(PATH="/usr/bin:/bin", PYTHONPATH=str(mount), MOTO_PORT=str(port))
    with engine_process(command, port, env, mount, "the aws service's engine") as url:
        yield url


def spec_of_file() -> dict[str, Any]:
    """docker-compose.yml, parsed (for module fixtures)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def container_command(spec: dict[str, Any], service: str) -> list[str]:
    """A service's command, with this interpreter standing in for the image's."""
    command = spec["services"][service]["command"]
    return [sys.executable if part == "python" else part for part in command]


def test_the_aws_healthcheck_passes_only_when_the_engine_answers(
    spec: dict[str, Any], moto_endpoint: str
) -> None:
    form, *check = spec["services"]["aws"]["healthcheck"]["test"]
    assert form == "CMD" and check[0] == "python"
    assert "urlopen" not in check[-1]  # a request would be logged every 2 s
    port = moto_endpoint.rsplit(":", 1)[1]
    for target, expected in ((port, 0), (str(free_port()), 1)):
        command = [sys.executable] + [
            part.replace('"127.0.0.1", 4566', f'"127.0.0.1", {target}')
            for part in check[1:]
        ]
        result = subprocess.run(command, capture_output=True, timeout=30, check=False)
        assert result.returncode == expected, result.stderr


def test_the_aws_services_engine_has_the_engines_fixes(moto_endpoint: str) -> None:
    """A Publish to a subscriber that is down succeeds: not plain moto (HTTP 500)."""
    sns = boto3.client(
        "sns",
        endpoint_url=moto_endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    assert publish_to_an_api_that_is_down(sns, "127.0.0.1") == 200


def write_experiment(data: Path) -> None:
    """One experiment in every table, with an r.rds.gz."""
    folder = experiment_folder(data, EXPERIMENT)
    write_json(
        folder,
        "mock_experiment.json",
        {"experimentId": EXPERIMENT, "experimentName": "compose"},
    )
    write_json(folder, "mock_samples.json", {"experimentId": EXPERIMENT, "samples": {}})
    plots = [plot_record(EXPERIMENT, f"plot-{i}", 100) for i in range(3)]
    write_json(folder, "mock_plots_tables.json", {"records": plots})
    (folder / "r.rds.gz").write_bytes(gzip.compress(RDS))


def test_the_populate_command_seeds_a_real_stack_with_the_container_environment(
    spec: dict[str, Any], moto_endpoint: str, tmp_path: Path
) -> None:
    populate = spec["services"]["populate"]
    env = {
        name: defaulted(str(value)) for name, value in populate["environment"].items()
    }
    assert env["INFRAMOCK_AWS_ENDPOINT"] == "http://aws:4566"
    env["INFRAMOCK_AWS_ENDPOINT"] = moto_endpoint
    env["BIOMAGE_DATA_PATH"] = str(tmp_path / "data")
    write_experiment(tmp_path / "data")
    # As in the image: the package importable, no .env, nothing else inherited.
    env.update(PATH="/usr/bin:/bin", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        container_command(spec, "populate"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert_seeded(moto_endpoint, env["AWS_DEFAULT_REGION"])


def assert_seeded(endpoint: str, region: str) -> None:
    """Tables, items, the gunzipped r.rds and the SNS deliveries to the host's API."""
    session = boto3.session.Session(
        region_name=region, aws_access_key_id="test", aws_secret_access_key="test"
    )
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    expected = {
        "experiments-development": 1,
        "samples-development": 1,
        "plots-tables-development": 3,
    }
    tables = ddb.list_tables()["TableNames"]
    assert sorted(tables) == sorted([*expected, "projects-development"])
    counts = {
        table: ddb.query(
            TableName=table,
            KeyConditionExpression="experimentId = :id",
            ExpressionAttributeValues={":id": {"S": EXPERIMENT}},
            Select="COUNT",
        )["Count"]
        for table in expected
    }
    assert counts == expected
    s3 = session.client("s3", endpoint_url=endpoint)
    rds = s3.get_object(Bucket="biomage-source-development", Key=f"{EXPERIMENT}/r.rds")
    assert rds["Body"].read() == RDS
    sns = session.client("sns", endpoint_url=endpoint)
    endpoints = {s["Endpoint"] for s in sns.list_subscriptions()["Subscriptions"]}
    assert endpoints == {
        "http://host.docker.internal:3000/v1/workResults",
        "http://host.docker.internal:3000/v1/pipelineResults",
        "http://host.docker.internal:3000/v1/gem2sResults",
    }


# Road selection, through stand-in docker executables -----------------------------


@dataclasses.dataclass
class StandIns:
    """A folder for PATH holding stand-in executables that log their calls."""

    bin: Path
    log: Path

    def add(self, name: str, body: str) -> None:
        """An executable `name` that logs its arguments, then runs `body`.

        The line is appended in one write: two stand-ins run at once (`run`'s
        `compose up` and `docker events`) would otherwise interleave theirs.
        """
        script = self.bin / name
        script.write_text(
            "#!/bin/sh\n"
            f"line=$(printf '%s\\037' {name} \"$@\")\n"
            f"printf '%s\\n' \"$line\" >> '{self.log}'\n"
            f"{body}\n"
        )
        script.chmod(0o755)

    def docker(self, info: int, compose_version: int, compose_exit: int = 0) -> None:
        """`docker`: `info` and `compose version` exit as told, others compose_exit."""
        self.add(
            "docker",
            f'if [ "$1" = info ]; then exit {info}; fi\n'
            f'if [ "$1 $2" = "compose version" ]; then exit {compose_version}; fi\n'
            f"exit {compose_exit}",
        )

    def calls(self) -> list[list[str]]:
        """Every call so far, as its argument vector."""
        if not self.log.exists():
            return []
        return [
            line.split("\x1f")[:-1]
            for line in self.log.read_text(encoding="utf-8").splitlines()
        ]


@pytest.fixture(name="standins")
def fixture_standins(tmp_path: Path) -> StandIns:
    """An empty stand-in folder: no docker at all until a test adds one."""
    folder = tmp_path / "bin"
    folder.mkdir()
    return StandIns(folder, tmp_path / "calls.log")


INFO = ["docker", "info"]
COMPOSE_VERSION = ["docker", "compose", "version"]
PROJECT = project_name(Settings.load({}, env_file=Path("/nonexistent")))
ON_PROJECT = [
    *("--project-name", PROJECT, "--file", str(COMPOSE_FILE)),
    *("--profile", "aws", "--profile", "redis"),  # the 2021 profile's services
]
DOCKER_COMPOSE = ["docker", "compose", *ON_PROJECT]


def settings_of(runtime: str) -> Settings:
    """The default settings but INFRAMOCK_RUNTIME, without the checkout's .env."""
    return Settings.load({"INFRAMOCK_RUNTIME": runtime}, env_file=Path("/nonexistent"))


@pytest.mark.parametrize(
    ("runtime", "info", "version", "legacy", "road", "probes"),
    [
        ("auto", 0, 0, False, ("docker", "compose"), [INFO, COMPOSE_VERSION]),
        ("auto", 1, 0, True, (), [INFO]),
        ("auto", 0, 1, True, ("docker-compose",), [INFO, COMPOSE_VERSION]),
        ("auto", 0, 1, False, (), [INFO, COMPOSE_VERSION]),
        ("local", 0, 0, True, (), []),
        ("docker", 1, 0, False, ("docker", "compose"), [COMPOSE_VERSION]),
        ("docker", 1, 1, True, ("docker-compose",), [COMPOSE_VERSION]),
    ],
)
def test_the_road_follows_the_runtime_and_what_answers(
    standins: StandIns,
    monkeypatch: pytest.MonkeyPatch,
    runtime: Runtime,
    info: int,
    version: int,
    legacy: bool,
    road: tuple[str, ...],
    probes: list[list[str]],
) -> None:
    standins.docker(info, version)
    if legacy:
        standins.add("docker-compose", "exit 0")
    monkeypatch.setenv("PATH", str(standins.bin))
    chosen = choose_road(settings_of(runtime))
    if road:
        assert isinstance(chosen, ComposeRoad) and chosen.compose == road
    else:
        assert isinstance(chosen, EmbeddedRoad)
    assert runtime in chosen.reason
    assert standins.calls() == probes


def test_auto_is_local_without_any_docker(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(standins.bin))
    assert isinstance(choose_road(settings_of("auto")), EmbeddedRoad)


def test_auto_stays_with_a_running_embedded_stack(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    standins.docker(0, 0)
    monkeypatch.setenv("PATH", str(standins.bin))
    road = choose_road(settings_of("auto"), embedded_pid=4321)
    assert isinstance(road, EmbeddedRoad) and "pid 4321" in road.reason
    assert not standins.calls()


def test_forcing_docker_without_compose_is_an_error(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    standins.docker(0, 1)
    monkeypatch.setenv("PATH", str(standins.bin))
    with pytest.raises(RoadError, match="INFRAMOCK_RUNTIME=local"):
        choose_road(settings_of("docker"))


def cli_env(tmp_path: Path, standins: StandIns, **overrides: str) -> dict[str, str]:
    """The CLI's environment: stand-ins only on PATH, and no way to start a stack.

    INFRAMOCK_REDIS_SERVER names no server, so even a wrong road could not
    start an embedded stack.
    """
    return base_env(
        tmp_path,
        PATH=str(standins.bin),
        INFRAMOCK_REDIS_SERVER=str(tmp_path / "no-redis-server"),
        **overrides,
    )


RELOAD = ["run", "--rm", "--no-deps", "populate"]


@pytest.mark.parametrize(
    ("command", "compose_calls"),
    [
        (["run"], [["up", "--build"]]),
        (["reload-data"], [RELOAD]),
        (["reload-data", "--all"], [RELOAD + SEED_COMMAND + ["--all"]]),
        # stopped first: a foreground `up` sees each container exit before
        # `down` removes it (Compose 2.40 panicked: docker/compose#13559)
        (["stop"], [["stop"], ["down", "--volumes"]]),
    ],
)
def test_the_docker_road_hands_each_command_to_compose(
    standins: StandIns,
    tmp_path: Path,
    moto_endpoint: str,
    command: list[str],
    compose_calls: list[list[str]],
) -> None:
    standins.docker(info=0, compose_version=0, compose_exit=7)
    port = moto_endpoint.rsplit(":", 1)[1]  # reload-data needs a stack answering
    env = cli_env(tmp_path, standins, INFRAMOCK_RUNTIME="auto", INFRAMOCK_AWS_PORT=port)
    result = cli(env, *command, timeout=60)
    # `run` also follows the engine's events for its banner
    # (tests/docker/test_docker_road.py)
    calls = [c for c in standins.calls() if c[:2] != ["docker", "events"]]
    assert calls == [INFO, COMPOSE_VERSION] + [
        DOCKER_COMPOSE + a for a in compose_calls
    ]
    assert result.returncode == 7, result.stdout  # compose's own exit status
    assert "docker road: INFRAMOCK_RUNTIME=auto, a Docker engine answers" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("engine", "extra", "handed"),
    [
        ("moto", {}, "|"),  # the Compose file's defaults: moto's image
        (
            "ministack",
            {},
            "ministackorg/ministack:1.5.33|python -m inframock.engine.ministack "
            "0.0.0.0 4566",
        ),
        (  # an image the user names wins
            "ministack",
            {"INFRAMOCK_AWS_IMAGE": "mine:1"},
            "mine:1|python -m inframock.engine.ministack 0.0.0.0 4566",
        ),
    ],
)
def test_the_docker_road_runs_the_engine_inframock_engine_names(
    standins: StandIns,
    tmp_path: Path,
    engine: str,
    extra: dict[str, str],
    handed: str,
) -> None:
    """Compose gets INFRAMOCK_ENGINE's image and inframock's server of it
    (inframock/services/engines/*.py: COMPOSE) in its environment."""
    seen = tmp_path / "seen"
    standins.add(
        "docker",
        'if [ "$1" = info ]; then exit 0; fi\n'
        'if [ "$1 $2" = "compose version" ]; then exit 0; fi\n'
        'printf "%s|%s\\n" "$INFRAMOCK_AWS_IMAGE" "$INFRAMOCK_AWS_ENTRYPOINT"'
        f" > {seen}",
    )
    env = cli_env(
        tmp_path, standins, INFRAMOCK_RUNTIME="docker", INFRAMOCK_ENGINE=engine, **extra
    )
    result = cli(env, "stop", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert seen.read_text().strip() == handed


@pytest.mark.parametrize(
    ("make_args", "compose_args"),
    [
        ([], ["logs"]),
        (["FOLLOW=1"], ["logs", "--follow"]),
        (["FOLLOW=1", "LINES=5"], ["logs", "--follow", "--tail", "5"]),
    ],
)
def test_make_logs_on_the_docker_road_is_compose_logs(
    standins: StandIns, tmp_path: Path, make_args: list[str], compose_args: list[str]
) -> None:
    """As `docker compose logs`: prints and returns; FOLLOW=1 follows (`-f`)."""
    standins.docker(info=0, compose_version=0, compose_exit=0)
    env = cli_env(tmp_path, standins, INFRAMOCK_RUNTIME="auto")
    result = subprocess.run(
        ["/usr/bin/make", "-s", "--no-print-directory", "logs", *make_args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert standins.calls() == [INFO, COMPOSE_VERSION, DOCKER_COMPOSE + compose_args]


def test_status_on_the_docker_road_lists_the_containers_then_the_stack(
    standins: StandIns, tmp_path: Path
) -> None:
    standins.docker(info=1, compose_version=0)
    env = cli_env(tmp_path, standins, INFRAMOCK_RUNTIME="docker")
    result = cli(env, "status", "--verbose")  # the services table (issue 21)
    assert standins.calls() == [
        COMPOSE_VERSION,
        DOCKER_COMPOSE + ["ps", "--all"],
        DOCKER_COMPOSE + list(ENGINE_VERSION),
    ]
    assert "docker road: INFRAMOCK_RUNTIME=docker" in result.stdout
    assert f"Compose project {PROJECT}" in result.stdout
    assert "services" in result.stdout and "down" in result.stdout
    assert result.returncode == 1  # nothing answers on the free ports


def test_the_docker_compose_binary_stands_in_for_the_plugin(
    standins: StandIns, tmp_path: Path
) -> None:
    standins.docker(info=0, compose_version=1)
    standins.add("docker-compose", "exit 0")
    result = cli(cli_env(tmp_path, standins, INFRAMOCK_RUNTIME="auto"), "stop")
    assert result.returncode == 0, result.stdout
    assert standins.calls() == [
        INFO,
        COMPOSE_VERSION,
        ["docker-compose", *ON_PROJECT, "stop"],
        ["docker-compose", *ON_PROJECT, "down", "--volumes"],
    ]


@pytest.mark.parametrize(("runtime", "probes"), [("auto", [INFO]), ("local", [])])
def test_the_local_road_when_docker_does_not_answer_or_is_not_wanted(
    standins: StandIns, tmp_path: Path, runtime: str, probes: list[list[str]]
) -> None:
    standins.docker(info=1 if runtime == "auto" else 0, compose_version=0)
    result = cli(cli_env(tmp_path, standins, INFRAMOCK_RUNTIME=runtime), "stop")
    assert result.returncode == 0, result.stdout
    assert standins.calls() == probes
    assert f"local road: INFRAMOCK_RUNTIME={runtime}" in result.stdout
    assert "no inframock stack is running" in result.stdout


def test_an_unknown_runtime_is_refused(standins: StandIns, tmp_path: Path) -> None:
    result = cli(cli_env(tmp_path, standins, INFRAMOCK_RUNTIME="podman"), "stop")
    assert result.returncode == 2
    assert "INFRAMOCK_RUNTIME='podman'" in result.stdout
    assert not standins.calls()


def test_each_checkout_is_its_own_compose_project(tmp_path: Path) -> None:
    settings = Settings.load({}, env_file=tmp_path / "none")
    first = project_name(settings, tmp_path / "My Inframock")
    second = project_name(settings, tmp_path / "other" / "My Inframock")
    assert first.startswith("inframock-my-inframock-") and first != second
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_-]*", p) for p in (first, second))
    chosen = Settings.load(
        {"INFRAMOCK_COMPOSE_PROJECT": "mine"}, env_file=tmp_path / "none"
    )
    assert project_name(chosen, tmp_path / "My Inframock") == "mine"


def test_a_project_name_compose_would_refuse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="INFRAMOCK_COMPOSE_PROJECT"):
        Settings.load({"INFRAMOCK_COMPOSE_PROJECT": "My Stack"}, env_file=tmp_path)


def test_start_is_embedded_only_and_says_so_on_the_docker_road(
    standins: StandIns, tmp_path: Path
) -> None:
    standins.docker(info=0, compose_version=0)
    result = cli(cli_env(tmp_path, standins, INFRAMOCK_RUNTIME="docker"), "start")
    assert result.returncode == 2, result.stdout
    assert "runs the embedded stack only" in result.stdout
    assert COMPOSE_VERSION in standins.calls()
    assert not any("up" in call for call in standins.calls())
