"""The engine's HTTP server: a bounded pool of request threads, none for idle ones.

werkzeug's threaded server (`run_simple(threaded=True)`) starts a thread for
every connection it accepts, and that thread lives as long as the
connection: one opened ahead of its request (a client's or a browser's spare
connection) holds a thread waiting for its request line. Its accept loop
waits for each new thread to start, which, with hundreds of threads runnable
at once (idle connections all closed together, a burst of new ones), takes a
switch of the GIL each: the loop falls behind, the listen queue (128) fills,
and the kernel drops new connections, which the client retries after 1, 3,
7 s... With 2000 idle connections closed at once a request waited 13 s.

Here the accept loop only hands a new connection to a selector. When bytes
arrive on one (or it is closed), a request thread from a pool (started on
demand, at most `WORKERS`, kept for the next request) serves it; so a
connection that sends nothing costs a descriptor, not a thread, and idle ones
never starve new ones. Connections are not kept alive between requests:
werkzeug 3.1 answers each with `Connection: close`
(tests/lifecycle/test_idle_connections.py tells when it no longer does, and
a request thread would then wait on an idle connection until the client
sends or closes). A request in progress holds its
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


class PooledWSGIServer(BaseWSGIServer):
    """werkzeug's server, with request threads from `Workers` for connections
    that have something to read, and a selector for those that have not."""

    multithread = True
    request_queue_size = LISTEN_QUEUE

    def __init__(
        self, host: str, port: int, app: Any, handler: type[WSGIRequestHandler]
    ) -> None:
        super().__init__(host, port, app, handler)
        self._workers = Workers(WORKERS)
        # epoll and kqueue take registrations while another thread waits
        self._idle = selectors.DefaultSelector()
        self._idle_lock = threading.Lock()
        """Held while the idle connections change: the watcher hands them
        over while the server closes them at its stop (the selector's map,
        changed during a walk of it, fails that walk and the stop with it)."""
        self._closed = False
        threading.Thread(target=self._watch, name="idle", daemon=True).start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """A new connection with its request already sent (most: an SDK sends
        it right after connecting) goes to a request thread; any other waits
        for its first bytes without one."""
        if _sent(request):
            self._workers.submit(
                functools.partial(self._serve, request, client_address)
            )
        else:
            with self._idle_lock:
                self._idle.register(request, selectors.EVENT_READ, client_address)

    def _watch(self) -> None:
        """Give each connection that has bytes to read (or was closed) to a
        request thread."""
        while True:
            try:
                ready = self._idle.select()
            except (OSError, ValueError):  # the selector was closed
                return
            with self._idle_lock:
                if self._closed:  # the server closed them all meanwhile
                    return
                for key, _ in ready:
                    self._idle.unregister(key.fileobj)
                    self._workers.submit(
                        functools.partial(self._serve, key.fileobj, key.data)
                    )

    def _serve(self, conn: socket.socket, address: Any) -> None:
        """Serve the request sent on `conn`, then close it (as werkzeug's
        threads do: werkzeug answers every request with `Connection: close`)."""
        try:
            self.finish_request(conn, address)
        except Exception:  # pylint: disable=broad-exception-caught
            self.handle_error(conn, address)
        finally:
            self.shutdown_request(conn)

    def server_close(self) -> None:
        """Close the listening socket, then the idle connections."""
        super().server_close()
        with self._idle_lock:
            self._closed = True
            idle = [key.fileobj for key in self._idle.get_map().values()]
            self._idle.close()
        for conn in idle:
            self.shutdown_request(conn)  # type: ignore[arg-type]


def _sent(conn: socket.socket) -> bool:
    """True when `conn` has bytes to read, or was closed, right now."""
    try:
        conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:  # the request thread's first read tells
        return True
    return True


def serve(host: str, port: int, app: Any, handler: type[WSGIRequestHandler]) -> None:
    """Serve `app` on host:port until KeyboardInterrupt, as `run_simple` does."""
    server = PooledWSGIServer(host, port, app, handler)
    server.log_startup()
    server.serve_forever()
