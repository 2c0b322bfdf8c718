"""A local control channel into the running stack, for reloads at warm speed.

A fresh `python -m inframock reload-data` spends most of its time importing
boto3 and building clients before it can ask anything. The supervisor of `make
run` has all of that warm, so it listens on a Unix socket in its private
temporary folder (mode 0700: only this user can reach it) and runs reloads on
request, streaming the output back. The client sends its own settings, so a
reload means exactly what it would mean run in its own process.

The wire format: one JSON request line from the client; then the server's
output bytes, then a NUL byte and the exit status in ASCII.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Callable, TextIO

END = b"\0"
CONNECT_TIMEOUT = 2.0

Handler = Callable[[dict[str, Any], TextIO], int]
"""Runs one request, writing its output to the stream; returns an exit status."""


class TolerantStream:
    """A text stream to a client that may hang up: writes after that are dropped.

    A reload goes on to its end even if its terminal is closed, as it would
    have run in that terminal's own process had it not been killed.
    """

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self.closed_by_peer = False

    def write(self, text: str) -> int:
        """Send `text`, or drop it once the client has gone."""
        self.send(text.encode())
        return len(text)

    def send(self, data: bytes) -> None:
        """Send raw bytes, or drop them once the client has gone."""
        if not self.closed_by_peer:
            try:
                self._connection.sendall(data)
            except OSError:
                self.closed_by_peer = True

    def flush(self) -> None:
        """Nothing is buffered."""

    def isatty(self) -> bool:
        """What the client's terminal is, the request says; the stream is not one."""
        return False


class ControlServer:
    """Accepts requests on a Unix socket and runs them one at a time.

    It lives as long as the supervisor; the socket goes with its folder.
    """

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(str(path))
        self._socket.listen()
        threading.Thread(target=self._serve, name="control", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed
            threading.Thread(
                target=self._answer, args=(connection,), daemon=True
            ).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as lines:
            try:
                request = json.loads(lines.readline())
            except ValueError:
                return
            stream = TolerantStream(connection)
            code = 1
            try:
                with self._lock:  # one reload at a time, as from one terminal
                    code = self._handler(request, stream)  # type: ignore[arg-type]
            except Exception as err:  # pylint: disable=broad-exception-caught
                # A bug in the handler: the client still gets why, and its end.
                stream.write(f"inframock | error: the reload failed: {err!r}\n")
            finally:
                stream.send(END + str(code).encode())


def call(path: Path, request: dict[str, Any]) -> int | None:
    """Run `request` in the stack at `path`, copying its output to stdout.

    Returns its exit status, or None if no stack listens there.
    """
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(CONNECT_TIMEOUT)
        connection.connect(str(path))
    except OSError:
        return None
    connection.settimeout(None)
    out = sys.stdout.buffer
    with connection:
        connection.sendall(json.dumps(request).encode() + b"\n")
        tail = b""
        while chunk := connection.recv(65536):
            data = tail + chunk
            end = data.rfind(END)
            if end < 0:
                out.write(data)
                tail = b""
            else:
                out.write(data[:end])
                tail = data[end:]
            out.flush()
    if not tail.startswith(END):
        return 1  # the stack went away mid-request
    return int(tail[1:] or b"1")
