"""The Docker road end to end, on a real Docker engine with the pinned images.

Skipped (at once, with the reason) where no engine answers, Compose is missing
or a pinned image is not present locally: these tests never pull. Each stack
runs from a copy of the checkout in a folder of its own, so its Compose project
is never a developer's, on free ports (never 4566/6379).
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from inframock.core.probes import DIRECT
from inframock.testing.harness import DeliveryHandler
from inframock.testing.harness import RunningStack, base_env, port_is_free, wait_until
from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    plot_record,
    write_json,
)

from tests.helpers import Receiver, assert_relayed, publish_to_an_api_that_is_down

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT_FILES = ("docker-compose.yml", "requirements.txt", ".dockerignore")
READY_LINE = "inframock is ready"
START_TIMEOUT = 300.0
"""The first start builds the populate image (pip install inside)."""
STOPPED_WITHIN = 60.0
VARIABLE = re.compile(r"\$\{\w+:-([^}]*)\}")


def pinned_images() -> list[str]:
    """The images docker-compose.yml and the Dockerfile name, as defaulted."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    images = [
        VARIABLE.sub(r"\1", s["image"])
        for s in spec["services"].values()
        if "image" in s
    ]
    dockerfile = (ROOT / "populate" / "Dockerfile").read_text()
    return images + re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)


OPTIONAL_IMAGES = ("postgres:",)
"""Images the tests do without when absent (the offline stand-ins have no
PostgreSQL): the `current` stack then runs from a checkout copy without that
service, which tests/docker/test_compose_current.py checks statically."""


def required_images() -> list[str]:
    """The pinned images every test here needs."""
    return [i for i in pinned_images() if not i.startswith(OPTIONAL_IMAGES)]


def image_present(image: str) -> bool:
    """True when `image` is in the local engine (these tests never pull)."""
    result = subprocess.run(
        ["docker", "image", "inspect", image],
        capture_output=True,
        timeout=20,
        check=False,
    )
    return result.returncode == 0


def why_no_docker() -> str:
    """Why this machine cannot run the Docker road here, or '' when it can."""
    if shutil.which("docker") is None:
        return "no docker command"
    probes = {
        "no Docker engine answers `docker info`": ["docker", "info"],
        "no `docker compose`": ["docker", "compose", "version"],
        f"pinned images not present locally: {required_images()}": [
            "docker",
            "image",
            "inspect",
            *required_images(),
        ],
    }
    for reason, command in probes.items():
        try:
            result = subprocess.run(
                command, capture_output=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return reason
        if result.returncode != 0:
            return reason
    return ""


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(bool(why_no_docker()), reason=why_no_docker()),
]


def host_gateway() -> str:
    """The address `host.docker.internal` is in a container (`host-gateway`).

    Asked of a throwaway container of the pinned moto image, as the aws service
    resolves it.
    """
    result = subprocess.run(
        ["docker", "run", "--rm", "--add-host", "host.docker.internal:host-gateway"]
        + ["--entrypoint", "python", pinned_images()[0], "-c"]
        + ["import socket; print(socket.gethostbyname('host.docker.internal'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout.strip() or "127.0.0.1"


class BridgeDeliveries(http.server.ThreadingHTTPServer):
    """The stand-in Cellenics API, where the aws container reaches the host.

    On the host's bridge address only (Docker Desktop, where that address is
    inside its VM: loopback, which it forwards), never on every address.
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        try:
            super().__init__((host_gateway(), 0), DeliveryHandler)
        except OSError:  # Docker Desktop
            super().__init__(("127.0.0.1", 0), DeliveryHandler)
        self.url = f"http://host.docker.internal:{self.server_address[1]}"


class DockerStack(RunningStack):
    """`python -m inframock run` on the Docker road, from a copy of the checkout."""

    def __init__(self, checkout: Path, env: dict[str, str]) -> None:
        super().__init__(env, cwd=checkout)
        self.checkout = checkout

    @property
    def project(self) -> str:
        """The Compose project `make run` announced."""
        found = re.search(r"Compose project (\S+)", self.output)
        assert found, self.output
        return found.group(1)

    def containers(self, *extra: str) -> list[str]:
        """The project's containers (running ones only unless `-a` is given)."""
        result = subprocess.run(
            ["docker", "ps", "-q", *extra, "--filter"]
            + [f"label=com.docker.compose.project={self.project}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.split()

    def ports_free(self) -> bool:
        """True when neither port is listened on any more."""
        return port_is_free(self.aws_port) and port_is_free(self.redis_port)

    def down(self) -> None:
        """Leave nothing behind, whatever a test did (teardown)."""
        if self.process.poll() is None:
            self.cli("stop")
            self.process.wait(timeout=STOPPED_WITHIN)
        subprocess.run(
            ["docker", "compose", "--project-name", self.project, "--file"]
            + [str(self.checkout / "docker-compose.yml"), "down", "--volumes"],
            capture_output=True,
            timeout=120,
            check=False,
        )


def copy_checkout(target: Path, without: tuple[str, ...] = ()) -> Path:
    """The files the Docker road needs, in a folder of another name; the
    Compose services `without` left out of its docker-compose.yml."""
    target.mkdir(parents=True)
    for name in CHECKOUT_FILES:
        shutil.copy2(ROOT / name, target / name)
    for package in ("inframock", "populate"):
        shutil.copytree(
            ROOT / package,
            target / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    if without:
        spec = yaml.safe_load((target / "docker-compose.yml").read_text())
        for service in without:
            del spec["services"][service]
        (target / "docker-compose.yml").write_text(yaml.safe_dump(spec))
    return target


def write_experiment(data: Path, experiment: str, rds: bytes) -> None:
    """One experiment: one item per table but three plots, and an r.rds.gz."""
    folder = experiment_folder(data, experiment)
    write_json(
        folder, "mock_experiment.json", {"experimentId": experiment, "name": "e2e"}
    )
    write_json(folder, "mock_samples.json", {"experimentId": experiment})
    plots = [plot_record(experiment, f"plot-{i}", 50) for i in range(3)]
    write_json(folder, "mock_plots_tables.json", {"records": plots})
    (folder / "r.rds.gz").write_bytes(gzip.compress(rds))


def start(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    tmp: Path, name: str, experiment: str, rds: bytes, api: str, **settings: str
) -> DockerStack:
    """A stack from a copy of the checkout named `name`, with one experiment,
    and `settings` (e.g. INFRAMOCK_ENGINE) in its environment."""
    checkout = copy_checkout(tmp / name)
    env = base_env(
        tmp / f"{name}-settings",
        INFRAMOCK_RUNTIME="docker",
        BIOMAGE_API_URL=api,
        INFRAMOCK_TEST_CWD=str(checkout),  # where conftest's cli() runs commands
        **settings,
    )
    write_experiment(Path(env["BIOMAGE_DATA_PATH"]), experiment, rds)
    return DockerStack(checkout, env)


RDS_A = payload(200_000, seed=1)
RDS_B = payload(100_000, seed=2)


@pytest.fixture(scope="module", name="listener")
def fixture_listener() -> Iterator[BridgeDeliveries]:
    """The stand-in API on the host, where the aws container delivers."""
    server = BridgeDeliveries()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", name="stack")
def fixture_stack(
    tmp_path_factory: pytest.TempPathFactory, listener: BridgeDeliveries
) -> Iterator[DockerStack]:
    """Checkout A's stack, up and loaded, for the module's tests."""
    tmp = tmp_path_factory.mktemp("docker-road")
    stack = start(tmp, "checkout-a", "exp-a", RDS_A, listener.url)
    try:
        stack.wait_ready(START_TIMEOUT)
        yield stack
    finally:
        stack.down()


def item_counts(stack: DockerStack, experiment: str) -> dict[str, int]:
    """Items of `experiment` per table keyed by experiment (not projects)."""
    ddb = stack.client("dynamodb")
    return {
        table: ddb.query(
            TableName=table,
            KeyConditionExpression="experimentId = :id",
            ExpressionAttributeValues={":id": {"S": experiment}},
            Select="COUNT",
        )["Count"]
        for table in ddb.list_tables()["TableNames"]
        if _hash_key(ddb, table) == "experimentId"  # not projects-*
    }


def _hash_key(ddb: Any, table: str) -> str:
    """The name of `table`'s partition key."""
    schema = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
    return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")


def rds_versions(stack: DockerStack, experiment: str) -> list[dict[str, Any]]:
    """Every stored version of the experiment's r.rds."""
    listing = stack.client("s3").list_object_versions(
        Bucket="biomage-source-development", Prefix=f"{experiment}/r.rds"
    )
    return list(listing.get("Versions", []))


def assert_loaded(stack: DockerStack, experiment: str, rds: bytes) -> None:
    """`write_experiment`'s items are in their tables and its r.rds in S3."""
    assert item_counts(stack, experiment) == {
        "experiments-development": 1,
        "samples-development": 1,
        "plots-tables-development": 3,
    }
    body = stack.client("s3").get_object(
        Bucket="biomage-source-development", Key=f"{experiment}/r.rds"
    )["Body"]
    assert body.read() == rds


def assert_stops_leaving_nothing(stack: DockerStack) -> None:
    """`make stop` ends `make run` cleanly: ports free, no container left."""
    result = stack.cli("stop")
    assert result.returncode == 0, result.stdout
    assert stack.process.wait(timeout=STOPPED_WITHIN) == 0, stack.output
    assert stack.ports_free()
    assert not stack.containers("-a")


def test_up_loads_exactly_the_data_folder(stack: DockerStack) -> None:
    assert {stack.aws_port, stack.redis_port}.isdisjoint({4566, 6379})
    assert_loaded(stack, "exp-a", RDS_A)
    assert len(rds_versions(stack, "exp-a")) == 1


def test_the_banner_names_engine_project_and_load(stack: DockerStack) -> None:
    banner = stack.output[stack.output.index(READY_LINE) :]
    assert "moto 5.2.5" in banner
    assert stack.project.startswith("inframock-checkout-a-")
    assert stack.project in banner
    assert "1 experiment, 5 items" in banner


def test_the_healthcheck_does_not_flood_the_log(stack: DockerStack) -> None:
    # The aws service is healthy only after several checks 2 s apart; the
    # populate container waited for that, so checks ran before the banner.
    assert "(healthy)" in stack.cli("status").stdout
    assert "/moto-api/" not in stack.output


def test_status_names_the_project_and_the_engine(stack: DockerStack) -> None:
    result = stack.cli("status")
    assert result.returncode == 0, result.stdout
    assert f"Compose project {stack.project}" in result.stdout
    report = json.loads(stack.cli("status", "--json").stdout)
    assert report["compose_project"] == stack.project
    assert report["services"][0]["version"] == "moto 5.2.5"
    assert report["healthy"]


def test_reload_is_incremental_and_all_loads_everything(stack: DockerStack) -> None:
    first = stack.cli("reload-data")
    assert first.returncode == 0, first.stdout
    assert "0 items, 0 B into S3, 0 errors; 4 unchanged files skipped" in first.stdout
    assert len(rds_versions(stack, "exp-a")) == 1
    ddb = stack.client("dynamodb")
    key = {"experimentId": {"S": "exp-a"}}
    ddb.update_item(
        TableName="experiments-development",
        Key=key,
        UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":v": {"S": "changed by the API"}},
    )
    everything = stack.cli("reload-data", "--all")
    assert everything.returncode == 0, everything.stdout
    assert "5 items" in everything.stdout
    item = ddb.get_item(TableName="experiments-development", Key=key)["Item"]
    assert item["name"] == {"S": "e2e"}
    assert len(rds_versions(stack, "exp-a")) == 2


def test_sns_reaches_the_api_on_the_host(
    stack: DockerStack, listener: BridgeDeliveries
) -> None:
    sns = stack.client("sns")
    topic = sns.list_topics()["Topics"][0]["TopicArn"]
    sns.publish(
        TopicArn=topic,
        Message='{"result": "e2e"}',
        MessageAttributes={
            "type": {"DataType": "String", "StringValue": "WorkResponse"}
        },
    )
    wait_until(lambda: listener.received, 30, "an SNS delivery on the host")
    path, _, body = listener.received[0]
    assert path == "/v1/workResults"
    assert json.loads(body)["Message"] == '{"result": "e2e"}'


def test_the_aws_container_runs_inframocks_engine(stack: DockerStack) -> None:
    """Publish to an API that is down succeeds (plain moto answers HTTP 500)."""
    sns = stack.client("sns")
    assert publish_to_an_api_that_is_down(sns, "host.docker.internal") == 200


def test_a_second_checkout_runs_beside_and_a_killed_run_stops_it(
    stack: DockerStack, tmp_path: Path, listener: BridgeDeliveries
) -> None:
    other = start(tmp_path, "checkout-b", "exp-b", RDS_B, listener.url)
    try:
        other.wait_ready(START_TIMEOUT)
        assert other.project != stack.project
        assert item_counts(other, "exp-a") == dict.fromkeys(
            item_counts(other, "exp-b"), 0
        )
        assert item_counts(other, "exp-b")["plots-tables-development"] == 3
        assert item_counts(stack, "exp-b") == dict.fromkeys(
            item_counts(stack, "exp-b"), 0
        )
        os.kill(other.process.pid, signal.SIGKILL)
        wait_until(other.ports_free, STOPPED_WITHIN, "the killed run's ports")
        wait_until(lambda: not other.containers(), STOPPED_WITHIN, "its containers")
        assert not stack.ports_free() and stack.cli("status").returncode == 0
    finally:
        other.down()


def test_stop_leaves_nothing(stack: DockerStack) -> None:
    assert_stops_leaving_nothing(stack)


MINISTACK_IMAGE = "ministackorg/ministack:1.5.33"


@pytest.mark.skipif(
    not image_present(MINISTACK_IMAGE), reason=f"{MINISTACK_IMAGE} not present locally"
)
def test_ministack_runs_on_the_docker_road(
    tmp_path: Path, listener: BridgeDeliveries
) -> None:
    """INFRAMOCK_ENGINE=ministack: the aws container runs MiniStack's image
    with inframock's server of it (its patches: a bucket without CORS
    refuses a preflight, as S3 does), loaded as on moto; stop leaves nothing."""
    stack = start(
        tmp_path,
        "checkout-m",
        "exp-m",
        RDS_B,
        listener.url,
        INFRAMOCK_ENGINE="ministack",
    )
    try:
        stack.wait_ready(START_TIMEOUT)
        banner = stack.output[stack.output.index(READY_LINE) :]
        assert "ministack 1.5.33" in banner
        assert_loaded(stack, "exp-m", RDS_B)
        preflight = urllib.request.Request(
            f"{stack.endpoint}/plots-tables-development/k",
            method="OPTIONS",
            headers={
                "Origin": "http://evil.example",
                "Access-Control-Request-Method": "PUT",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            DIRECT.open(preflight, timeout=10).close()
        assert refused.value.code == 403
        assert_stops_leaving_nothing(stack)
    finally:
        stack.down()


# The `current` profile: its services from its data, the relay as a container --

CURRENT_TOPIC_ARN = (
    "arn:aws:sns:eu-west-1:000000000000:work-results-development-default-v2"
)


def write_current_experiment(data: Path, experiment: str, rds: bytes) -> None:
    """One experiment under the current profile's data-folder names."""
    folder = experiment_folder(data, experiment)
    (folder / "biomage-source.r.rds.gz").write_bytes(gzip.compress(rds))
    write_json(folder, "mock_cell_sets.json", {"cellSets": []})


def host_listener() -> Receiver:
    """The stand-in API where containers reach the host (see BridgeDeliveries)."""
    try:
        return Receiver(host=host_gateway())
    except OSError:  # Docker Desktop
        return Receiver()


def test_the_current_profile_runs_its_services_and_relays_to_the_host(  # pylint: disable=too-many-locals
    tmp_path: Path,
) -> None:
    postgres = next(i for i in pinned_images() if i.startswith("postgres:"))
    without = () if image_present(postgres) else ("postgres",)
    listener = host_listener()
    checkout = copy_checkout(tmp_path / "checkout-c", without)
    env = base_env(
        tmp_path / "checkout-c-settings",
        INFRAMOCK_RUNTIME="docker",
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_RELAY_DELAYS="1,2",
        INFRAMOCK_TEST_CWD=str(checkout),
    )
    write_current_experiment(Path(env["BIOMAGE_DATA_PATH"]), "exp-c", RDS_B)
    stack = DockerStack(checkout, env)
    try:
        stack.wait_ready(START_TIMEOUT)
        buckets = [b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]]
        assert len(buckets) == 13
        assert all(b.endswith("-development-000000000000") for b in buckets)
        body = stack.client("s3").get_object(
            Bucket="biomage-source-development-000000000000", Key="exp-c/r.rds"
        )["Body"]
        assert body.read() == RDS_B
        subscriptions = stack.client("sns").list_subscriptions_by_topic(
            TopicArn=CURRENT_TOPIC_ARN
        )["Subscriptions"]
        assert [s["Protocol"] for s in subscriptions] == ["sqs"]

        report = json.loads(stack.cli("status", "--json").stdout)
        services = {s["name"]: s for s in report["services"]}
        assert services["relay"]["up"], services
        assert services["relay"]["version"] == "running"
        assert services["postgres"]["up"] is not bool(without)
        assert not report["missing"], report["missing"]

        api = f"http://host.docker.internal:{listener.server_address[1]}"
        assert_relayed(
            stack.client("sns"),
            CURRENT_TOPIC_ARN,
            listener.received,
            "PipelineResponse",
            "/v2/pipelineResults",
            {"experimentId": "exp-c", "apiUrl": api, "status": "done"},
        )

        stopped = stack.cli("stop")
        assert stopped.returncode == 0, stopped.stdout
        assert stack.process.wait(timeout=STOPPED_WITHIN) == 0, stack.output
        assert not stack.containers("-a")
    finally:
        stack.down()
        listener.close()
