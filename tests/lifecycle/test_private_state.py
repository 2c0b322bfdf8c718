"""The state folder is its owner's only (inframock.core.private): folders 0700,
files 0600, another local user can neither list nor read any of it.

A real stack with INFRAMOCK_PERSIST, started in the background (its log in the
state folder), loaded from a data folder (the r.rds cache, the loader's
record), snapshotted, and stopped so that it saves its state (the engine's
state and object blobs, Redis's dump). The test's folder is open to others,
so only the state folder's own modes keep them out; it starts as an older
inframock left it, open to all.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
import redis

from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    write_json,
    write_rds,
)
from inframock.testing.harness import base_env, cli

pytestmark = pytest.mark.slow

EXPERIMENT = "exp-private-1"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture(name="open_root")
def open_root_fixture() -> Iterator[Path]:
    """A folder every user may enter and list: what is in it is guarded only
    by its own modes."""
    folder = Path(tempfile.mkdtemp(prefix="inframock-private-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def write_data(data: Path) -> None:
    """One experiment with an r.rds, as a user's data folder holds it."""
    folder = experiment_folder(data, EXPERIMENT)
    write_json(
        folder,
        "mock_experiment.json",
        {"experimentId": EXPERIMENT, "experimentName": "private", "meta": {}},
    )
    write_json(folder, "mock_samples.json", {"experimentId": EXPERIMENT})
    write_json(folder, "mock_plots_tables.json", {"records": []})
    write_rds(folder, payload(2_000_000))


def open_to_others(root: Path) -> list[str]:
    """Every folder and file under `root` that grants group or others anything."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink() and mode & 0o077:
            found.append(f"{oct(mode)} {path}")
    return found


def reachable_by_nobody(paths: list[Path]) -> str:
    """What user 65534 can list (folders) or read (files) of `paths`."""
    script = (
        'for p; do if [ -d "$p" ]; then ls "$p" >/dev/null 2>&1 && echo "listed $p"; '
        'else cat "$p" >/dev/null 2>&1 && echo "read $p"; fi; done'
    )
    result = subprocess.run(
        [*NOBODY, "sh", "-c", script, "sh", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


def test_the_saved_state_is_its_owners_only(open_root: Path) -> None:
    data = open_root / "data"
    write_data(data)
    snapshots = open_root / "snapshots"
    env = base_env(
        open_root,
        INFRAMOCK_PERSIST="true",
        INFRAMOCK_SNAPSHOT_DIR=str(snapshots),
        BIOMAGE_DATA_PATH=str(data),
    )
    state = Path(env["INFRAMOCK_STATE_DIR"])
    (state / "objects").mkdir(parents=True)  # as an older inframock left it
    (state / "stack.log.1").write_text("the previous start's log")
    for path in (state, state / "objects", state / "stack.log.1"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        started = cli(env, "start", timeout=300)
        assert started.returncode == 0, started.stdout
        client = redis.Redis(port=int(env["INFRAMOCK_REDIS_PORT"]), socket_timeout=5)
        client.set("private key", "private value")
        saved = cli(env, "snapshot", "private")
        assert saved.returncode == 0, saved.stdout
    finally:
        stopped = cli(env, "stop", timeout=600)
    assert stopped.returncode == 0, stopped.stdout

    names = {p.relative_to(state).parts[0] for p in state.rglob("*")}
    assert {"persist", "redis", "objects", "stack.log", "loaded-files.json"} <= names
    assert (state / "redis" / "dump.rdb").is_file()
    assert any((state / "objects").iterdir())  # the gunzipped r.rds
    assert not open_to_others(state)
    assert not open_to_others(snapshots)

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return  # becoming another user needs root
    everything = [state, *state.rglob("*"), snapshots, *snapshots.rglob("*")]
    assert "listed" in reachable_by_nobody([open_root])  # the test's folder is open
    assert reachable_by_nobody(everything) == ""
