"""`make start` and `make logs`: the embedded stack in the background.

`start` runs the very same `inframock run` as a detached process: a new
session (so closing the terminal sends it no hangup), stdin from /dev/null,
stdout and stderr (what `make run` shows on its terminal) into `start.log` in
the state folder. It copies that to its own output while the stack starts, so
the user sees the same lines and the same banner as with `make run`, and
returns once the banner is out (exit 0) or the stack has exited (non-zero,
the reason last). The stack's whole log is `stack.log`, as for `make run`;
the previous run's is kept as `stack.log.1`: one start, one log.

`make stop` needs nothing new: the detached `run` writes the same record.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

from inframock.core.record import StackRecord
from inframock.roads.embedded.run import log_path, refuse_if_running
from inframock.roads.embedded.supervisor import check_port_free
from inframock.core.errors import InframockError
from inframock.core import console
from inframock.core.private import private_folder
from inframock.core.settings import Settings, portable_raw_settings

TRANSCRIPT_FILE = "start.log"
"""What the detached stack would have shown on a terminal (`start` copies it)."""
READY_LINE = b"inframock is ready"
POLL_SECONDS = 0.1
"""How often a log being written is read again (start and `logs -f`)."""


class StartFailed(InframockError):
    """The detached stack exited before it was ready."""


def start(settings: Settings, verbose: bool = False) -> int:
    """Start `inframock run` detached and wait until it is ready; 0 when it is.

    `verbose`: show (and keep in start.log) every line, as `run --verbose`."""
    refuse_if_running(settings)
    # The same checks `run` makes, before anything is detached or rotated.
    check_port_free(settings.bind, settings.aws_port, "INFRAMOCK_AWS_PORT")
    check_port_free(settings.bind, settings.redis_port, "INFRAMOCK_REDIS_PORT")
    private_folder(settings.state_dir)
    path = settings.state_dir / TRANSCRIPT_FILE
    env = {
        **os.environ,
        **portable_raw_settings(),  # the same stack, whatever its working folder
        "INFRAMOCK_RUNTIME": "local",
        "PYTHONUNBUFFERED": "1",  # the log shows each line as it happens
        "COLUMNS": str(console.terminal.width),  # the banner as wide as here
    }
    with open(path, "wb") as transcript:
        child = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "inframock", "run", "--detached"]
            + (["--verbose"] if verbose else []),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=transcript,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no SIGHUP, no Ctrl-C from this terminal
        )
    try:
        return _until_ready(child, path, log_path(settings))
    except KeyboardInterrupt:
        console.note("interrupted: stopping the stack being started")
        child.terminate()
        child.wait()
        return 130


def _until_ready(child: subprocess.Popen[bytes], path: Path, log: Path) -> int:
    """Copy the transcript at `path` to stdout until the banner is out or the
    child has exited; `log` is the stack's whole log."""
    out = sys.stdout.buffer
    seen = b""
    ready_since: float | None = None
    with open(path, "rb") as transcript:
        while True:
            exited = child.poll()
            chunk = transcript.read()
            if chunk:
                out.write(chunk)
                out.flush()
                seen += chunk
            if ready_since is None and READY_LINE in seen:
                ready_since = time.monotonic()
            if ready_since is not None and (
                _banner_closed(seen) or time.monotonic() - ready_since > 2
            ):
                break
            if exited is not None and not chunk:
                # What it showed, the reason last, has just been copied above.
                raise StartFailed(
                    f"the stack exited with status {exited} before it was ready "
                    f"(the reason is above; its whole log: {log})"
                )
            if not chunk:
                time.sleep(POLL_SECONDS)
    console.note(
        f"running in the background (pid {child.pid}); its log: {log}. "
        "`make logs` prints it (FOLLOW=1: follows it; LINES=n: the last n lines), "
        "`make stop` stops the stack"
    )
    return 0


def _banner_closed(seen: bytes) -> bool:
    """True once the ready panel's bottom edge (a line of ╰… or +…) is out."""
    after = seen[seen.find(READY_LINE) :].split(b"\n")[1:-1]  # whole lines only
    return any(line.startswith(("╰".encode(), b"+")) for line in after)


def logs(settings: Settings, follow: bool, lines: int | None) -> int:
    """Print the detached stack's log (its last `lines`); with `follow`, keep
    printing what it writes until the stack stops (or Ctrl-C)."""
    path = log_path(settings)
    if not path.exists():
        console.note(f"no log yet: {path} is written by `make start`")
        return 0
    out = sys.stdout.buffer
    with open(path, "rb") as log:
        text = log.read()
        if lines is not None:
            kept = text.splitlines(keepends=True)
            text = b"".join(kept[-lines:]) if lines > 0 else b""
        out.write(text)
        out.flush()
        if not follow:
            return 0
        try:
            _follow(settings, path, log)
        except KeyboardInterrupt:
            pass
    return 0


def _follow(settings: Settings, path: Path, log: BinaryIO) -> None:
    """Copy what is appended to `log` until the stack has stopped; a log that
    is rotated (a new `make start`) is reopened."""
    out = sys.stdout.buffer
    try:
        _copy_while_alive(settings, path, log, out)
    finally:
        log.close()


def _copy_while_alive(
    settings: Settings, path: Path, log: BinaryIO, out: BinaryIO
) -> None:
    """Until the stack's supervisor has exited: it removes its record before
    its last line (`stopped`), so the record's going is not the log's end."""
    last: StackRecord | None = None
    while True:
        record = StackRecord.read_live(settings.state_dir)
        last = record or last  # a new `make start` writes a new log
        alive = record is not None or (last is not None and last.is_alive())
        chunk = log.read()
        if chunk:
            out.write(chunk)
            out.flush()
            continue
        if not alive:
            return
        try:
            if path.stat().st_ino != os.fstat(log.fileno()).st_ino:
                log.close()
                log = open(path, "rb")  # pylint: disable=consider-using-with
                continue
        except FileNotFoundError:
            pass
        time.sleep(POLL_SECONDS)
