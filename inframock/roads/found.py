"""What the state folder's record says runs, checked against the processes
and against this terminal's settings.

A second terminal's settings may differ from the running stack's (another
INFRAMOCK_AWS_PORT, or none set there): the client commands (`make env`,
`status`, `reload-data`, `snapshot`, `restore`, `migrate`, `seed-sql`) then
use the endpoints the stack recorded, and say so in one line on stderr, so
they never reach another stack (or none) by accident. A record whose
supervisor was killed (kill -9) is said in one line, with what to do, before
it is cleared.

Every command reads it, on either road (on the Docker road there is no record:
the settings are used as they are), so it lives beside the roads, not in one.
"""

from __future__ import annotations

import dataclasses
import sys

import psutil

from inframock.core.record import STATE_FILE, StackRecord
from inframock.core import console
from inframock.core.settings import Settings
from inframock.services.registry import SERVICES


def load_client_settings() -> Settings:
    """The settings of a command that talks to the stack: pointed at the
    running stack's recorded endpoints (said on stderr when they differ), after
    saying what a stale record of a killed stack leaves."""
    settings = Settings.load()
    if stale := stale_record(settings):
        aside(stale)
    return client_settings(settings)


def client_settings(settings: Settings) -> Settings:
    """`settings` pointed at the stack that runs, when one does (else as they are)."""
    record = StackRecord.read_live(settings.state_dir)
    if record is None:
        return settings
    running = recorded_settings(settings, record)
    said = _endpoints(settings, record)
    recorded = _endpoints(running, record)
    if said != recorded:
        aside(
            f"using the running stack (pid {record.pid}, {record.command}): "
            f"{', '.join(recorded)}; the settings here say {', '.join(said)}"
        )
    return running


def recorded_settings(settings: Settings, record: StackRecord) -> Settings:
    """`settings` with the ports and the AWS endpoint of `record`."""
    running = dataclasses.replace(settings, **record.ports)
    if running.aws_endpoint != record.aws_endpoint:
        running = dataclasses.replace(
            running, aws_endpoint_override=record.aws_endpoint
        )
    return running


def _endpoints(settings: Settings, record: StackRecord) -> list[str]:
    """Where `settings` reach each service the record has a port of."""
    return [
        service.address(settings)
        for service in SERVICES.values()
        if service.port_field in record.ports
    ]


def aside(message: str) -> None:
    """A note on stderr, where it does not mix into output meant for a
    program (`eval "$(make -s env)"`, `status --json`)."""
    with console.redirected(sys.stderr, sys.stderr.isatty(), console.terminal.width):
        console.note(message)


def stale_record(settings: Settings) -> str:
    """One line when the record names a stack that no longer runs (its
    supervisor was killed), saying what is left and what to do; the record is
    then cleared. Empty when the record and the processes agree."""
    record = StackRecord.read(settings.state_dir)
    if record is None or record.is_alive():
        return ""
    left = {
        name: pid for name, pid in record.pids.items() if _outlived(pid, record.started)
    }
    path, again = settings.state_dir / STATE_FILE, record.command
    found = (
        f"found {path} of a stack (pid {record.pid}, {record.command}) that no "
        "longer runs (killed?)"
    )
    if left:  # the record stays: a start waits for them (wait_while_stopping)
        names = ", ".join(f"{name} (pid {pid})" for name, pid in left.items())
        pids = " ".join(str(pid) for pid in left.values())
        return (
            f"{found}, but its {names} still run: a start waits for them to "
            f"exit, or `kill {pids}`, then {again}"
        )
    record.clear(settings.state_dir)
    return f"{found}; nothing of it is left and its record is cleared: {again}"


def _outlived(pid: int, started: float) -> bool:
    """True if `pid` still runs and was started after the stack's supervisor
    (a child of it, not a recycled pid)."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            return (
                process.create_time() >= started - 1.0
                and process.status() != psutil.STATUS_ZOMBIE
            )
    except psutil.Error:
        return False
