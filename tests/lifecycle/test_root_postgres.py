"""PostgreSQL when inframock runs as root, from a checkout others cannot enter.

PostgreSQL refuses root, so it runs as another user (inframock.services.postgres.place).
Here the checkout is copied into a 0700 folder under a 0700 folder (as
`mktemp -d` makes, or /root), with its own virtualenv there: the bundled
wheel's binaries live under the closed folder, as does the default state
folder `./.inframock`. The `current` profile starts, the knex migrations run
and a row survives a restart (also a cluster an older inframock kept in the
state folder); nothing of the closed folders is opened, and a private folder
whose state folder is gone is removed. And a server whose initdb cannot run
ends the start with one `error:` line, every service stopped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from inframock.services.postgres.place import PRIVATE_ROOT, place_for
from inframock.core.settings import Settings
from inframock.testing.harness import ROOT, RunningStack, base_env, port_is_free
from tests.helpers import npm_ci
from tests.lifecycle.test_postgres import KNEX, checkouts, connect

pytestmark = pytest.mark.slow

SITE = Path("lib") / f"python{sys.version_info[0]}.{sys.version_info[1]}"
WHEEL_BIN = Path("site-packages") / "pgserver" / "pginstall" / "bin"


@pytest.fixture(scope="module", name="closed")
def closed_fixture() -> Iterator[Path]:
    """A copy of this checkout (its files as git sees them, committed or not)
    with a virtualenv of its own, in a 0700 folder under a 0700 folder."""
    pytest.importorskip("pgserver")
    # `make` puts uv in .venv (scripts/setup_venv.py), beside the suite's Python.
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        pytest.skip("uv is needed to make the copy's virtualenv quickly")
    parent = Path(tempfile.mkdtemp(prefix="inframock-closed-"))
    checkout = Path(tempfile.mkdtemp(dir=parent)) / "inframock"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    venv = checkout / ".venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, venv], check=True)
    install = [uv, "pip", "install", "-q", "--python", venv / "bin" / "python"]
    requirements = ["-r", checkout / "requirements.txt"]
    if subprocess.run([*install, "--offline", *requirements], check=False).returncode:
        subprocess.run([*install, *requirements], check=True)
    yield checkout
    shutil.rmtree(parent, ignore_errors=True)


def closed_env(checkout: Path, **overrides: str) -> dict[str, str]:
    """The current profile, run from `checkout` with its default state folder
    and the bundled PostgreSQL of its own virtualenv."""
    bindir = checkout / ".venv" / SITE / WHEEL_BIN
    assert (bindir / "initdb").is_file()
    env = base_env(checkout.parent, INFRAMOCK_PROFILE="current", **overrides)
    env.update(
        INFRAMOCK_STATE_DIR=str(checkout / ".inframock"),
        INFRAMOCK_POSTGRES_BIN=str(bindir),
    )
    # The copy's first process writes the bytecode the later ones read
    # (its virtualenv was installed without: compiling all of it costs more).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_in(checkout: Path, env: dict[str, str], *args: str) -> str:
    """`python -m inframock <args>` as the copy runs it; its merged output."""
    result = subprocess.run(
        [str(checkout / ".venv" / "bin" / "python"), "-m", "inframock", *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return result.stdout + result.stderr


def start_in(checkout: Path, env: dict[str, str]) -> RunningStack:
    """`make run` of the copy, ready."""
    python = str(checkout / ".venv" / "bin" / "python")
    stack = RunningStack(env, [python, "-m", "inframock", "run"], cwd=checkout)
    return stack.wait_ready(timeout=180)


def server_process(stack: RunningStack) -> psutil.Process:
    """The stack's postmaster."""
    found = [p for p in stack.processes() if p.name() in {"postgres", "postmaster"}]
    assert found, stack.output
    return min(found, key=lambda p: p.create_time())


def kept_rows(stack: RunningStack) -> list[tuple[str, str]]:
    """The rows of the migrated `experiment` table."""
    with connect(stack, "api_role") as conn:
        return conn.execute("SELECT id, name FROM experiment").fetchall()


@pytest.mark.skipif(os.geteuid() != 0, reason="what happens as root")
def test_the_current_profile_runs_as_root_from_a_closed_checkout(
    closed: Path,
) -> None:
    modules = npm_ci(KNEX, "the migration test") / "node_modules"
    iac, api = checkouts(closed.parent / "checkouts", modules)
    (closed.parent / "data").mkdir()
    env = closed_env(closed, CELLENICS_IAC_PATH=str(iac), CELLENICS_API_PATH=str(api))
    orphan = PRIVATE_ROOT / "0rphan-of-a-removed-state"  # its state folder is gone
    (orphan / "data").mkdir(parents=True)
    (orphan / "state").write_text(str(closed.parent / "removed" / ".inframock"))
    stack = start_in(closed, env)
    try:
        assert "postgresql 16." in stack.output
        server = server_process(stack)
        assert server.username() == "nobody"  # it refuses root
        assert Path(server.exe()).is_relative_to(PRIVATE_ROOT)  # a copy it reaches
        assert not orphan.exists()
        migrated = run_in(closed, env, "migrate")
        assert "Batch 1 run: 1 migrations" in migrated, migrated
        with connect(stack, "dev_role") as conn:
            conn.execute("INSERT INTO experiment VALUES ('kept', 'survives', null)")
    finally:
        stack.stop()
    assert "database system is shut down" in stack.output

    again = start_in(closed, env)
    try:
        assert kept_rows(again) == [("kept", "survives")]
    finally:
        again.stop()
    # An older inframock kept the cluster in the state folder: it is moved.
    place = place_for(Settings.load(env, Path("/nonexistent")))
    assert place.home is not None and (place.data / "PG_VERSION").is_file()
    legacy = closed / ".inframock" / "postgres"
    shutil.move(place.data, legacy)
    shutil.rmtree(place.home)
    moved = start_in(closed, env)
    try:
        assert kept_rows(moved) == [("kept", "survives")]
        assert not legacy.exists()
    finally:
        moved.stop()
    # Nothing of the user's was opened to PostgreSQL's user.
    for folder in (closed.parents[1], closed.parent, closed / ".inframock"):
        assert folder.stat().st_mode & 0o077 == 0, folder
    assert "removed" in run_in(closed, env, "clean-sql")
    assert not any(
        (home / "state").is_file()
        and (home / "state").read_text() == str(closed / ".inframock")
        for home in PRIVATE_ROOT.iterdir()
    )


@pytest.fixture(name="broken_bin")
def broken_bin_fixture() -> Iterator[Path]:
    """The bundled postgres and an initdb that cannot be run (no run bit), in
    a folder anyone may enter: only the run bit is wrong."""
    pgserver = pytest.importorskip("pgserver")
    folder = Path(tempfile.mkdtemp(prefix="inframock-broken-"))
    folder.chmod(0o755)
    for name in ("postgres", "initdb"):
        shutil.copy(Path(pgserver.__path__[0]) / "pginstall" / "bin" / name, folder)
    (folder / "initdb").chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def processes_on(ports: list[str]) -> list[Any]:
    """The processes whose command line names one of `ports`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if set(process.info["cmdline"] or []) & set(ports):
            found.append(process)
    return found


def test_an_initdb_that_cannot_run_is_one_error_line_and_nothing_is_left(
    tmp_path: Path, broken_bin: Path
) -> None:
    env = base_env(
        tmp_path, INFRAMOCK_PROFILE="current", INFRAMOCK_POSTGRES_BIN=str(broken_bin)
    )
    (tmp_path / "data").mkdir()
    stack = RunningStack(env)
    try:
        assert stack.wait_exit(timeout=120) != 0
    finally:
        stack.stop()
        subprocess.run(
            [sys.executable, "-m", "inframock", "clean-sql"],
            env=env,
            capture_output=True,
            check=False,
        )
    errors = [line for line in stack.lines if "error:" in line]
    assert len(errors) == 1, stack.output
    assert "postgres: cannot run" in errors[0], errors[0]
    assert str(broken_bin / "initdb") in errors[0]
    assert "INFRAMOCK_POSTGRES_BIN" in errors[0]  # what to do
    assert "Traceback" not in stack.output
    ports = [
        env["INFRAMOCK_AWS_PORT"],
        env["INFRAMOCK_REDIS_PORT"],
        env["INFRAMOCK_POSTGRES_PORT"],
    ]
    assert all(port_is_free(int(port)) for port in ports)
    assert not processes_on(ports)
