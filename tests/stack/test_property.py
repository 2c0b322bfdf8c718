"""Property: whatever a data folder holds, the loader names what is wrong and
loads the rest, against the real stack, and never crashes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
import pytest

from inframock.aws.clients import clients_for
from inframock.data.dataset import plan
from inframock.data.digests import Digests
from inframock.features.seed.load import Loader
from inframock.core.settings import Settings
from inframock.model.profiles import stack_for
from inframock.testing.harness import RunningStack
from tests.helpers import items

pytestmark = pytest.mark.slow

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FILE_CONTENT = st.one_of(
    VALUES.map(lambda v: json.dumps({"experimentId": "ID", "value": v}).encode()),
    VALUES.map(lambda v: json.dumps({"records": v}).encode()),
    VALUES.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)
RDS_CONTENT = st.one_of(st.none(), st.binary(max_size=200))
COUNTER = itertools.count()


@settings(
    max_examples=40,
    # No shrinking: a failing folder is reported as found, in bounded time.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content=FILE_CONTENT, rds=RDS_CONTENT)
def test_any_folder_is_loaded_or_named_never_crashes(
    session_stack: RunningStack, tmp_path: Path, content: bytes, rds: bytes | None
) -> None:
    experiment = f"prop-{next(COUNTER)}"
    data = tmp_path / experiment
    folder = data / experiment
    folder.mkdir(parents=True)
    content = content.replace(b'"ID"', json.dumps(experiment).encode())
    (folder / "mock_experiment.json").write_bytes(content)
    if rds is not None:
        (folder / "r.rds.gz").write_bytes(rds)
    good = data / f"{experiment}-ok"
    good.mkdir()
    (good / "mock_samples.json").write_text(json.dumps({"experimentId": good.name}))
    report = load_in_process(session_stack, data)

    assert len(items(session_stack, "samples-development", good.name)) == 1
    stored = items(session_stack, "experiments-development", experiment)
    named = [p for p in report.all_problems if p.experiment == experiment]
    assert stored or named or holds_no_records(content), "neither loaded nor named"
    assert all(p.file and p.reason for p in named)
    if rds is not None and not any(p.file == "r.rds.gz" for p in named):
        raise AssertionError("random bytes loaded as an r.rds.gz")


def holds_no_records(content: bytes) -> bool:
    """True for `{"records": []}`: a file with nothing to load is not an error."""
    try:
        return json.loads(content) == {"records": []}
    except ValueError:
        return False


def load_in_process(stack: RunningStack, data: Path) -> Any:
    """The loader itself on `data`, against the stack (fast enough for many runs)."""
    config = Settings.load(stack.env, env_file=data / "none")
    stack = stack_for(config)
    loader = Loader(
        clients_for(config.aws_endpoint, config.region),
        stack,
        Digests(data / "digests.json", "property"),
        config.rds_limit,
    )
    return loader.load(plan(data, stack.data))
