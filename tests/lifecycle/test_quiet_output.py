"""Output a person can read: `make run` and `make start` in a real 80-column
terminal (tmux) show what a user needs before the banner and keep the rest in
the stack's log; `--verbose` shows everything; warnings and errors of the
services still show; a load's problems are listed once; `make help` fits 80
columns; a stop the user asked for ends `make run` with status 0.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    write_json,
    write_rds,
)
from inframock.testing.harness import (
    READY_LINE,
    ROOT,
    RunningStack,
    base_env,
    cli,
    spawn,
    wait_until,
)

pytestmark = pytest.mark.slow

EXPERIMENT = "b1a5e6f0c0de4d0a9e5e1e5c0ffee123"
"""As long as a real Cellenics id: the load table must keep it whole."""
WIDTH = 80
BANNER_END = "╰"


def write_data(data: Path, broken: bool = False) -> Path:
    """One experiment with items in three tables and an r.rds; `broken`: a
    second one whose only file is not JSON."""
    folder = experiment_folder(data, EXPERIMENT)
    write_json(folder, "mock_experiment.json", {"experimentId": EXPERIMENT})
    write_json(folder, "mock_samples.json", {"experimentId": EXPERIMENT})
    records = [{"experimentId": EXPERIMENT, "plotUuid": f"p{i}"} for i in range(3)]
    write_json(folder, "mock_plots_tables.json", {"records": records})
    write_rds(folder, payload(50_000))
    if broken:
        bad = experiment_folder(data, "broken-one")
        (bad / "mock_experiment.json").write_text('{"experimentId": "broken-one",')
    return data


def quiet_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A CLI environment with the terminal's default (not the tests' verbose)."""
    env = base_env(tmp_path, BIOMAGE_DATA_PATH=str(write_data(tmp_path / "data")))
    env.pop("INFRAMOCK_VERBOSE", None)
    env.pop("COLUMNS")  # the terminal says how wide it is
    env.update(overrides)
    return env


class Terminal:
    """A tmux terminal of WIDTH columns running one shell command."""

    def __init__(self, tmp_path: Path, env: dict[str, str], command: str) -> None:
        self.socket = f"inframock-test-{os.getpid()}-{tmp_path.name}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        shell = f"cd {shlex.quote(str(ROOT))} && env {exports} {command}; "
        shell += "echo EXIT=$?; sleep 600"
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", "-x", str(WIDTH)]
            + ["-y", "50", "bash", "-c", shell],
            check=True,
        )

    def text(self) -> str:
        """Everything shown so far, each wrapped line joined again (-J): a
        line longer than WIDTH here is one the terminal had to wrap."""
        return subprocess.run(
            ["tmux", "-L", self.socket, "capture-pane", "-p", "-J", "-S", "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        """The text once `pattern` (a regex) shows."""
        wait_until(lambda: re.search(pattern, self.text()), timeout, pattern)
        return self.text()

    def close(self) -> None:
        """End the terminal (and what still runs in it)."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False)


@pytest.fixture(name="terminals")
def terminals_fixture() -> Iterator[list[Terminal]]:
    """Terminals to close after the test."""
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def before_banner(text: str) -> list[str]:
    """The lines shown before the banner, without blank ones."""
    head = text.split(READY_LINE)[0].splitlines()[:-1]  # the banner's top edge
    return [line for line in head if line.strip()]


def assert_reads_well(lines: list[str]) -> None:
    """What a user needs before the banner: one line per service up, one for
    provisioning, the load summary; none of the services' chatter."""
    shown = "\n".join(lines)
    assert len(lines) <= 10, shown
    # Not one wrapped line, but a path's (the data folder's is the user's).
    assert all(len(line) <= WIDTH or "/" in line for line in lines), shown
    assert re.search(r"inframock \| redis \((valkey|redis) [\d.]+\) is up", shown)
    assert re.search(r"inframock \| aws \(moto [\d.]+\) is up", shown)
    assert re.search(r"provisioned \d+ resources: 4 tables, 6 buckets", shown)
    assert "loaded 1 experiment: " in shown
    assert f"  {EXPERIMENT}\n" in shown + "\n"  # whole, on a line of its own
    for chatter in ("Valkey", "development server", "Running on", "→ 200", "×"):
        assert chatter not in shown, shown


def assert_logged_everything(env: dict[str, str]) -> None:
    """The stack's log has what the terminal left out."""
    log = (Path(env["INFRAMOCK_STATE_DIR"]) / "stack.log").read_text()
    assert "Ready to accept connections" in log
    assert "development server" in log
    assert "provisioned: table experiments-development" in log
    assert f"{EXPERIMENT}/r.rds.gz → s3://" in log
    assert READY_LINE in log


def test_make_run_at_80_columns_shows_what_a_person_needs(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    env = quiet_env(tmp_path)
    terminal = Terminal(tmp_path, env, "make run")
    terminals.append(terminal)
    text = terminal.wait_for(rf"{READY_LINE}[\s\S]*{BANNER_END}")
    assert_reads_well(before_banner(text))
    assert_logged_everything(env)
    # `make stop` from another terminal: the stop it asked for, no failure.
    assert cli(env, "stop").returncode == 0
    ended = terminal.wait_for(r"EXIT=\d+")
    assert "EXIT=0" in ended, ended
    assert "Error" not in ended, ended


def test_make_start_shows_what_make_run_shows(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    env = quiet_env(tmp_path)
    terminal = Terminal(tmp_path, env, "make start")
    terminals.append(terminal)
    try:
        text = terminal.wait_for(r"EXIT=\d+")
        assert "EXIT=0" in text, text
        assert_reads_well(before_banner(text))
        after = text.split(READY_LINE)[1]
        assert BANNER_END in after and "running in the background" in after
        assert_logged_everything(env)
    finally:
        assert cli(env, "stop").returncode == 0


def test_verbose_shows_every_line_and_quiet_still_shows_warnings(
    tmp_path: Path,
) -> None:
    env = quiet_env(tmp_path / "quiet", COLUMNS="200")
    quiet = RunningStack(env).wait_ready()
    try:
        assert "Ready to accept connections" not in quiet.output
        # A refusal of the engine's guard and a failed operation still show.
        request = urllib.request.Request(
            f"{quiet.endpoint}/moto-api/", headers={"Origin": "http://evil.example"}
        )
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=10)  # pylint: disable=R1732
        with pytest.raises(Exception):
            quiet.client("s3").head_bucket(Bucket="no-such-bucket")
        wait_until(lambda: "warning: refused GET" in quiet.output, 30, "the refusal")
        wait_until(
            lambda: "s3 HeadBucket no-such-bucket → 404" in quiet.output, 30, "the op"
        )
    finally:
        quiet.stop()

    env = quiet_env(tmp_path / "verbose", COLUMNS="200")
    loud = RunningStack(env, [sys.executable, "-m", "inframock", "run", "--verbose"])
    try:
        loud.wait_ready()
        assert "Ready to accept connections" in loud.output
        assert "development server" in loud.output
        assert "provisioned: table experiments-development" in loud.output
    finally:
        loud.stop()


def test_a_broken_file_is_listed_once_and_not_counted_as_loaded(
    tmp_path: Path,
) -> None:
    env = quiet_env(tmp_path, COLUMNS="200")
    write_data(Path(env["BIOMAGE_DATA_PATH"]), broken=True)
    stack = RunningStack(env).wait_ready()
    try:
        mentions = [
            line
            for line in stack.output.splitlines()
            if "broken-one/mock_experiment.json" in line
        ]
        assert len(mentions) == 1, stack.output
        assert "loaded 1 experiment: " in stack.output, stack.output
        assert "1 error" in stack.output
    finally:
        stack.stop()


def test_make_help_fits_80_columns() -> None:
    shown = subprocess.check_output(
        ["make", "-s", "--no-print-directory", "help"], cwd=ROOT, text=True
    )
    lines = shown.splitlines()
    # Not one wrapped line, but a path's (the data folder's is the user's).
    assert all(len(line) <= WIDTH or "/" in line for line in lines), shown
    assert len(lines) <= 32, shown
    assert "$$" not in shown
    assert '"$(make -s env)"' in shown
    assert re.search(r"^  make run +Run the stack", shown, re.M)


def _make_run(env: dict[str, str]) -> subprocess.Popen[str]:
    return spawn(["make", "--no-print-directory", "run"], env)


def _ready(make: subprocess.Popen[str]) -> str:
    """make's output up to the end of the banner."""
    assert make.stdout is not None
    seen = ""
    for line in make.stdout:
        seen += line
        if READY_LINE in seen and line.startswith(BANNER_END):
            return seen
    raise AssertionError(f"no banner:\n{seen}")


@pytest.mark.parametrize("stop", ["SIGINT", "service dies"])
def test_only_a_failure_makes_make_report_an_error(tmp_path: Path, stop: str) -> None:
    env = quiet_env(tmp_path, COLUMNS="200")
    make = _make_run(env)
    try:
        _ready(make)
        record = json.loads(
            (Path(env["INFRAMOCK_STATE_DIR"]) / "stack.json").read_text()
        )
        if stop == "SIGINT":  # a Ctrl-C that reaches the stack only
            os.kill(record["pid"], signal.SIGINT)
        else:
            os.kill(record["pids"]["redis"], signal.SIGKILL)
        rest, _ = make.communicate(timeout=60)
    finally:
        if make.poll() is None:
            make.kill()
    if stop == "SIGINT":
        assert make.returncode == 0, rest
        assert "Error" not in rest, rest
    else:
        assert make.returncode != 0, rest
        assert re.search(r"make: \*\*\* \[Makefile:\d+: run\] Error 1", rest), rest
