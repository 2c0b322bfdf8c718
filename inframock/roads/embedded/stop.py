"""`make stop` on the embedded road: end the `make run` the record names.

The supervisor stops its services itself on SIGTERM; this waits until it has.
"""

from __future__ import annotations

import signal
import time

import psutil

from inframock.core.record import StackRecord
from inframock.core import console
from inframock.core.settings import Settings
from inframock.services.base import SAVE_TIMEOUT

STOP_TIMEOUT = 15.0


def stop_stack(settings: Settings) -> int:
    """Stop the stack recorded in the state folder; 0 also when none runs."""
    record = StackRecord.read_live(settings.state_dir)
    if record is None:
        console.note(f"no inframock stack is running (nothing in {settings.state_dir})")
        return 0
    console.note(f"stopping the stack (pid {record.pid})")
    timeout = STOP_TIMEOUT
    if record.persist:
        timeout = SAVE_TIMEOUT
        console.note(
            "it saves its state first (INFRAMOCK_PERSIST); its log shows how far"
        )
    try:
        process = psutil.Process(record.pid)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        # A zombie has finished: its parent (a shell, make) just has not reaped it.
        while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() > deadline:
                console.error(f"pid {record.pid} did not stop within {timeout:.0f} s")
                return 1
            time.sleep(0.05)
    except psutil.NoSuchProcess:
        pass
    console.note("stopped")
    return 0
