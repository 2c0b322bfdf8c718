"""Safety: listening only on loopback, warning when not, and no credential leaking.

The stack has no authentication, so who can reach it matters; and a developer's
shell usually holds real AWS credentials, which inframock must neither print,
send, nor hand to the engines it runs.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import string
from pathlib import Path
from typing import Any

import psutil
import pytest

from inframock.testing.harness import (
    READY_LINE,
    Forwarder,
    RunningStack,
    base_env,
    cli,
    free_port,
)
from inframock.testing.datafolder import experiment_folder, write_json
from tests.helpers import children_of

pytestmark = pytest.mark.slow


def listening_sockets(stack: RunningStack) -> set[tuple[str, int]]:
    """(address, port) of every socket the stack's processes listen on."""
    processes = [psutil.Process(stack.process.pid), *children_of(stack)]
    return {
        (conn.laddr.ip, conn.laddr.port)
        for process in processes
        for conn in process.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN or conn.type == socket.SOCK_DGRAM
    }


def test_every_listening_socket_is_on_loopback_and_nothing_warns(
    session_stack: RunningStack,
) -> None:
    assert listening_sockets(session_stack) == {
        ("127.0.0.1", session_stack.aws_port),
        ("127.0.0.1", session_stack.redis_port),
    }
    assert "warning: listening" not in session_stack.output


def test_listening_beyond_loopback_says_who_can_now_reach_the_stack(
    make_stack: Any,
) -> None:
    stack = make_stack(INFRAMOCK_BIND="0.0.0.0").wait_ready()
    warning = (
        f"warning: listening on 0.0.0.0: anyone who can reach this machine on ports "
        f"{stack.aws_port} and {stack.redis_port} can read and change the stack, "
        "which has no authentication."
    )
    assert warning in stack.output
    assert stack.output.index(warning) < stack.output.index(READY_LINE)
    assert listening_sockets(stack) == {
        ("0.0.0.0", stack.aws_port),
        ("0.0.0.0", stack.redis_port),
    }
    assert stack.redis().config_get("protected-mode")["protected-mode"] == "no"


def real_looking_credentials() -> dict[str, str]:
    """AWS credentials shaped like real ones, new each run, that must never show."""
    upper = string.ascii_uppercase + string.digits
    return {
        "AWS_ACCESS_KEY_ID": "AKIA" + "".join(secrets.choice(upper) for _ in range(16)),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(300),
    }


def test_no_credential_is_printed_sent_or_handed_to_the_engines(
    make_stack: Any, tmp_path: Path
) -> None:
    credentials = real_looking_credentials()
    data = tmp_path / "data with a bad file"
    write_json(experiment_folder(data, "exp-ok"), "mock_samples.json", {"x": 1})
    write_json(
        experiment_folder(data, "exp-ok"), "mock_experiment.json", {"experimentId": "x"}
    )
    (experiment_folder(data, "exp-bad") / "mock_experiment.json").write_text("{oops")
    aws_port = free_port()
    relay = Forwarder(aws_port)  # records every byte the commands send
    stack = make_stack(
        data,
        INFRAMOCK_AWS_PORT=str(aws_port),
        INFRAMOCK_AWS_ENDPOINT=relay.url,
        **credentials,
    ).wait_ready()
    for engine in children_of(stack):
        assert not {k for k in engine.environ() if k.startswith("AWS_")} - {
            "AWS_DEFAULT_REGION"
        }
        assert not set(credentials.values()) & set(engine.environ().values())
    runs = {
        "reload-data": stack.cli("reload-data", "--all"),
        "status": stack.cli("status"),
        "seed": stack.cli("seed"),
        "seed, remote endpoint": stack.cli(
            "seed", INFRAMOCK_AWS_ENDPOINT="https://s3.eu-west-1.amazonaws.com"
        ),
        "env": stack.cli("env"),
        "stop": stack.cli("stop"),
    }
    stack.wait_exit()
    relay.close()
    assert (
        runs["reload-data"].returncode == 1 and "exp-bad" in runs["reload-data"].stdout
    )
    assert runs["seed"].returncode == 1 and "exp-bad" in runs["seed"].stdout
    assert runs["status"].returncode == 0
    assert "refusing to write" in runs["seed, remote endpoint"].stdout
    assert "AWS_SECRET_ACCESS_KEY=test" in runs["env"].stdout
    assert b"Credential=test/" in relay.sent  # the relay did see signed requests
    outputs = {name: run.stdout + run.stderr for name, run in runs.items()}
    outputs["run"] = stack.output
    for name, value in credentials.items():
        for command, output in outputs.items():
            assert value not in output, f"{name} printed by {command}"
        assert value.encode() not in relay.sent, f"{name} sent to the endpoint"


def this_machines_other_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET:
                if not ipaddress.ip_address(address.address).is_loopback:
                    return str(address.address)
    return None


@pytest.mark.parametrize("command", ["seed", "reload-data"])
def test_a_remote_endpoint_is_refused_before_any_connection(
    command: str, tmp_path: Path
) -> None:
    """The "remote" endpoint is this machine's own non-loopback address, so even a
    connection that should not happen would not leave the machine."""
    address = this_machines_other_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    with socket.create_server((address, 0)) as listener:
        endpoint = f"http://{address}:{listener.getsockname()[1]}"
        result = cli(base_env(tmp_path, INFRAMOCK_AWS_ENDPOINT=endpoint), command)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # no connection is waiting
            listener.accept()
    assert result.returncode == 1
    assert f"refusing to write to {endpoint}" in result.stdout
