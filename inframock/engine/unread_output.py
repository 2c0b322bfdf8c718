"""The engine's stdout and stderr: a line nobody can read is dropped, never fatal.

The supervisor relays the engine's output through a pipe. When the supervisor
dies (`kill -9` of `make run`), the kernel asks the engine to stop and, with
INFRAMOCK_PERSIST, the engine saves its state; the pipe has no reader any
more, and the first line written to it (a progress line of a long save) raises
BrokenPipeError. Raised inside a save, that cost every write of the run. So
the engine's output never raises: `install` replaces `sys.stdout` and
`sys.stderr` with `DroppingStream`s (print, the engine's own log lines,
werkzeug) and points the logging handlers made before at them, and the
logging module prints nothing about a handler that failed.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import sys
from typing import TextIO


class DroppingStream(io.TextIOBase):
    """A text stream writing straight to a file descriptor; what cannot be
    written (no reader, a full disk) is dropped.

    Written with os.write, not through a buffer: a failed write leaves nothing
    behind to fail again at the next flush or at exit.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._fd = stream.fileno()
        self._encoding = stream.encoding or "utf-8"
        self._tty = stream.isatty()
        self.gone = False
        """True once the reader has gone for good (EPIPE): nothing is tried again."""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """What text is encoded as."""
        return self._encoding

    def write(self, text: str) -> int:  # type: ignore[override]
        """Write `text` whole, or drop it (or what is left of it)."""
        data = memoryview(text.encode(self._encoding, "replace"))
        while data and not self.gone:
            try:
                data = data[os.write(self._fd, data) :]
            except OSError as err:
                self.gone = err.errno == errno.EPIPE
                break
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return self._tty


def install() -> None:
    """Make the engine's stdout, stderr and log handlers drop what they cannot write."""
    replaced = {}
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, DroppingStream):
            continue
        replaced[id(stream)] = dropping = DroppingStream(stream)
        setattr(sys, name, dropping)
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler):
                stream = replaced.get(id(handler.stream))
                if stream is not None:
                    handler.setStream(stream)
    logging.raiseExceptions = False
