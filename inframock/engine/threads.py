"""The engine's HTTP server: a bounded pool of request threads, none for idle ones.

werkzeug's threaded server (`run_simple(threaded=True)`) starts a thread for
every connection it accepts, and that thread lives as long as the
connection, idle keep-alive time included. Its accept loop waits for each new
thread to start, which, with hundreds of threads runnable at once (clients
closing their pooled connections together, a burst of new ones), takes a
switch of the GIL each: the loop falls behind, the listen queue (128) fills,
and the kernel drops new connections, which the client retries after 1, 3,
7 s... With 2000 idle connections closed at once a request waited 13 s.

Here the accept loop only hands a new connection to a selector. When bytes
arrive on one, a request thread from a pool (started on demand, at most
`WORKERS`, kept for the next request) serves the requests waiting on it and
gives it back to the selector; so an idle connection costs a descriptor, not
a thread, and idle ones never starve new ones. A request in progress holds its
thread, a long poll too (SQS ReceiveMessage up to 20 s, Step Functions
GetActivityTask up to 60 s): `WORKERS` is far above the Cellenics clients'
and the tests' concurrent requests; past it, requests wait for a free thread.
The listen queue is deeper too, so a burst of connections waits for the
accept loop rather than for the kernel's retry. The request threads are
daemons, as werkzeug's are: a long poll in flight does not hold up a stop.
"""

from __future__ import annotations

import functools
import queue
import selectors
import socket
import threading
from typing import Any, Callable

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

WORKERS = 256
"""The most request threads: requests in progress at once, long polls included."""
LISTEN_QUEUE = 1024
"""Connections the kernel holds for the accept loop (werkzeug's: 128)."""


class Workers:
    """Daemon threads that run tasks; one more starts only when none is free."""

    def __init__(self, most: int) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._free = 0
        self._started = 0
        self._most = most

    def submit(self, task: Callable[[], None]) -> None:
        """Run `task` on a free thread, a new one, or the first to be free."""
        with self._lock:
            if self._free:
                self._free -= 1
            elif self._started < self._most:
                self._started += 1
                name = f"request-{self._started}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        self._tasks.put(task)

    def _work(self) -> None:
        while True:
            self._tasks.get()()
            with self._lock:
                self._free += 1


def serving_waiting_requests(handler: type[WSGIRequestHandler]) -> type:
    """`handler`, serving the requests already sent on its connection and
    then leaving it open (`kept_open`) instead of waiting for the next one."""

    class WaitingRequests(handler):  # type: ignore[valid-type,misc]
        """One pass over a connection that has bytes to read."""

        kept_open = False

        def handle_one_request(self) -> None:
            """Serve one request; stop when the next one is not here yet."""
            super().handle_one_request()
            # pylint: disable-next=access-member-before-definition
            if not self.close_connection and not self._more_sent():
                self.kept_open = True
                # pylint: disable-next=attribute-defined-outside-init
                self.close_connection = True  # ends `handle`; the server keeps it

        def _more_sent(self) -> bool:
            """True when the next request's bytes are already here (read into
            the buffer of `rfile`, which goes with this handler)."""
            timeout = self.connection.gettimeout()
            self.connection.setblocking(False)
            try:
                return bool(self.rfile.peek(1))
            except OSError:
                return False
            finally:
                self.connection.settimeout(timeout)

    WaitingRequests.__name__ = handler.__name__
    return WaitingRequests


class PooledWSGIServer(BaseWSGIServer):
    """werkzeug's server, with request threads from `Workers` for connections
    that have something to read, and a selector for those that have not."""

    multithread = True
    request_queue_size = LISTEN_QUEUE

    def __init__(
        self, host: str, port: int, app: Any, handler: type[WSGIRequestHandler]
    ) -> None:
        super().__init__(host, port, app, serving_waiting_requests(handler))
        self._workers = Workers(WORKERS)
        # epoll and kqueue take registrations while another thread waits
        self._idle = selectors.DefaultSelector()
        threading.Thread(target=self._watch, name="idle", daemon=True).start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """A new connection waits for its first bytes without a thread."""
        self._idle.register(request, selectors.EVENT_READ, client_address)

    def _watch(self) -> None:
        """Give each connection that has bytes to read (or was closed) to a
        request thread."""
        while True:
            try:
                ready = self._idle.select()
            except (OSError, ValueError):  # the selector was closed
                return
            for key, _ in ready:
                self._idle.unregister(key.fileobj)
                self._workers.submit(
                    functools.partial(self._serve, key.fileobj, key.data)
                )

    def _serve(self, conn: socket.socket, address: Any) -> None:
        """Serve the requests sent on `conn`; keep it open for more, or close it."""
        try:
            handler = self.RequestHandlerClass(conn, address, self)
        except Exception:  # pylint: disable=broad-exception-caught
            self.handle_error(conn, address)  # as socketserver's threads do
            self.shutdown_request(conn)
            return
        if handler.kept_open:
            try:
                self._idle.register(conn, selectors.EVENT_READ, address)
                return
            except (OSError, ValueError, RuntimeError):  # stopping
                pass
        self.shutdown_request(conn)

    def server_close(self) -> None:
        """Close the listening socket, then the idle connections."""
        super().server_close()
        for key in list(self._idle.get_map().values()):
            self.shutdown_request(key.fileobj)  # type: ignore[arg-type]
        self._idle.close()


def serve(host: str, port: int, app: Any, handler: type[WSGIRequestHandler]) -> None:
    """Serve `app` on host:port until KeyboardInterrupt, as `run_simple` does."""
    server = PooledWSGIServer(host, port, app, handler)
    server.log_startup()
    server.serve_forever()
