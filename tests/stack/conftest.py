"""The stack folder's fixtures: the session stack shared by whole modules."""

from __future__ import annotations

from typing import Iterator

import pytest

from inframock.testing.baseline import baseline_of, restore
from inframock.testing.harness import RunningStack


@pytest.fixture(scope="module", name="shared_stack")
def shared_stack_fixture(session_stack: RunningStack) -> Iterator[RunningStack]:
    """The session stack for a module that only needs names of its own: what
    the module adds is deleted after it (inframock/testing/baseline.py)."""
    before = baseline_of(session_stack)
    yield session_stack
    restore(session_stack, before)
