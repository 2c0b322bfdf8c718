"""A child's life tied to its parent's: PR_SET_PDEATHSIG.

Both roads need it, so it lives below them: the embedded road's supervisor
sets it in every service it starts, so that not even a SIGKILL of `make run`
leaves one behind; the Docker road sets it for `make run` itself (its watchdog
then stops the containers) and for the engine-events process it follows.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(signum: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies.

    Linux only (PR_SET_PDEATHSIG); elsewhere a no-op. Safe between fork and
    exec: no allocation, no locks. If the parent (`parent`, default the current
    one) is already gone by the time this runs, act on it at once.
    """
    if _LIBC is None:
        return
    expected = os.getppid() if parent is None else parent
    _LIBC.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != expected:
        os.kill(os.getpid(), signum)
