"""Hundreds of idle connections, opened or closed at once, do not stall the endpoint.

werkzeug's threaded server gave every connection a thread and started it from
its accept loop: with 2000 silent connections closed at once the next request
waited 13 s (the listen queue overflowed and the kernel's connection retries
backed off). inframock/engine/threads.py serves connections that have bytes
to read from a pool of request threads and parks idle ones in a selector.
These tests open real sockets to a stack of their own (the last one to the
engine's server alone, in process).
"""

from __future__ import annotations

import http.client
import resource
import socket
import threading
import time
from typing import Any, Iterator

import pytest

from werkzeug.serving import WSGIRequestHandler

from inframock.engine import threads
from inframock.testing.harness import RunningStack, wait_until
from tests.helpers import engine_of

pytestmark = pytest.mark.slow

IDLE = 3000
"""Silent connections: as many as several Node clients' pools left open."""
BOUND = 2.0
"""Seconds a request may take meanwhile (it took 13 s before the pool)."""
LONG_POLLS = 40
"""SQS long polls in flight at once: more than the Cellenics clients hold."""
S3_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


@pytest.fixture(name="stack")
def stack_fixture(make_stack: Any) -> Iterator[RunningStack]:
    """A stack of its own, with room for the connections in both processes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE + 1000
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"{needed} open files are needed; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:  # the stack inherits the limit
        yield make_stack().wait_ready()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def request_seconds(port: int) -> float:
    """Seconds a new connection takes to get an answer to one request."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/moto-api/")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()
    return time.monotonic() - started


def open_silent(port: int, count: int) -> list[socket.socket]:
    """`count` connections that send nothing, opened from 10 threads at once."""
    opened: list[socket.socket] = []
    lock = threading.Lock()

    def connect(n: int) -> None:
        for _ in range(n):
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            with lock:
                opened.append(sock)

    openers = [threading.Thread(target=connect, args=(count // 10,)) for _ in range(10)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join()
    return opened


def held_by_the_engine(stack: RunningStack, count: int) -> None:
    """Wait until the engine has accepted `count` connections (on werkzeug's
    server each then has its thread, blocked waiting for a request line)."""
    engine = engine_of(stack.processes())

    def accepted() -> int:
        return sum(
            1
            for c in engine.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == stack.aws_port and c.raddr
        )

    wait_until(lambda: accepted() >= count, 60, f"the engine to accept {count}")


def close_while_requesting(port: int, idle: list[socket.socket]) -> list[float]:
    """Close `idle` all at once while requests go on; their seconds."""
    closer = threading.Thread(target=lambda: [sock.close() for sock in idle])
    closer.start()
    seconds = [request_seconds(port) for _ in range(10)]
    closer.join()
    return seconds


def test_idle_connections_closed_at_once_do_not_stall_the_next_request(
    stack: RunningStack,
) -> None:
    port = stack.aws_port
    idle = open_silent(port, IDLE)
    held_by_the_engine(stack, IDLE)
    assert request_seconds(port) < BOUND
    seconds = close_while_requesting(port, idle)
    assert max(seconds) < BOUND, seconds


def test_a_burst_of_new_connections_does_not_stall_a_request(
    stack: RunningStack,
) -> None:
    port = stack.aws_port
    seconds: list[float] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            seconds.append(request_seconds(port))

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        idle = open_silent(port, IDLE)
    finally:
        done.set()
        prober.join()
    for sock in idle:
        sock.close()
    assert seconds and max(seconds) < BOUND, seconds


def test_long_polls_in_flight_leave_threads_for_other_requests(
    stack: RunningStack,
) -> None:
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="idle-connections-long-polls")["QueueUrl"]
    polls = [
        threading.Thread(
            target=lambda: stack.client("sqs").receive_message(
                QueueUrl=url, WaitTimeSeconds=5
            )
        )
        for _ in range(LONG_POLLS)
    ]
    for poll in polls:
        poll.start()
    try:
        idle = open_silent(stack.aws_port, IDLE)
        held_by_the_engine(stack, IDLE)
        seconds = close_while_requesting(stack.aws_port, idle)
        assert max(seconds) < BOUND, seconds
    finally:
        for poll in polls:
            poll.join()


def test_werkzeug_still_closes_every_connection_after_its_response(
    stack: RunningStack,
) -> None:
    """When this fails, werkzeug keeps connections alive between requests: a
    request thread of inframock/engine/threads.py would then wait on an idle
    one; give such connections back to the selector between requests."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.aws_port, timeout=30)
    try:
        conn.request("GET", "/", headers={"Authorization": S3_AUTHORIZATION})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 200
    assert response.getheader("Connection") == "close"


def _close_all(connections: list[socket.socket]) -> None:
    for conn in connections:
        conn.close()


def _answer(_environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


def test_a_stop_while_idle_connections_close_fails_no_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make run` killed: its idle connections close while the engine stops
    (SIGTERM). The watcher handing them over and the server closing them
    walked the one selector together: the watcher raised (ValueError, a
    descriptor closed under it), and the stop could (the selector's map
    changing during its walk), skipping the save after it."""
    failed: list[str] = []
    monkeypatch.setattr(
        threading, "excepthook", lambda args: failed.append(repr(args.exc_value))
    )
    for _ in range(50):
        server = threads.PooledWSGIServer("127.0.0.1", 0, _answer, WSGIRequestHandler)
        address = server.server_address[:2]
        idle = [socket.create_connection(address) for _ in range(30)]
        for _ in idle:
            server._handle_request_noblock()  # pylint: disable=protected-access
        closing = threading.Thread(target=_close_all, args=(idle,))
        closing.start()
        server.server_close()
        closing.join()
    time.sleep(0.5)  # the watchers see their selector closed, and end
    assert not failed, failed[:3]
