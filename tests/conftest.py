"""Fixtures: real inframock stacks on free ports (see inframock.testing.harness).

The tests live in folders by the stack they need: unit (no server), engine
(a bare engine), stack (the session stacks, or one per module), lifecycle
(stacks a test owns: start, stop, faults, persistence), clients (Node SDKs, a
browser), docker (Compose). The fixtures several folders use are here; a
folder's own are in its conftest."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from inframock.testing.harness import Deliveries, RunningStack, base_env
from tests import tiers
from tests.helpers import write_session_data


def pytest_configure(config: pytest.Config) -> None:
    """The tier markers and the summary per tier at the end (tests/tiers.py)."""
    tiers.configure(config)
    config.pluginmanager.register(tiers.TierSummary(), "tiers")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Untiered tests marked `core`; the longest tiers first (the workers
    take whole modules in this order)."""
    tiers.sort_into_tiers(items)


@pytest.fixture(scope="session", name="deliveries")
def deliveries_fixture() -> Iterator[Deliveries]:
    """The stand-in API the session stack's SNS subscriptions deliver to."""
    server = Deliveries()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Any]:
    """Start stacks for one test; every one is stopped afterwards."""
    stacks: list[RunningStack] = []

    def start(data: Path | None = None, **overrides: str) -> RunningStack:
        env = base_env(tmp_path, **overrides)
        if data is not None:
            env["BIOMAGE_DATA_PATH"] = str(data)
        else:
            Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True, exist_ok=True)
        stack = RunningStack(env)
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="session", name="session_stack")
def session_stack_fixture(
    tmp_path_factory: pytest.TempPathFactory, deliveries: Deliveries
) -> Iterator[RunningStack]:
    """One stack for the tests that only read it or add their own experiments."""
    tmp = tmp_path_factory.mktemp("session")
    data = tmp / "data folder with spaces"
    write_session_data(data)
    env = base_env(tmp, BIOMAGE_DATA_PATH=str(data), BIOMAGE_API_URL=deliveries.url)
    stack = RunningStack(env).wait_ready()
    yield stack
    stack.stop()
