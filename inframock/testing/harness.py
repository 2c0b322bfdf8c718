"""The harness that starts real inframock stacks on free ports and talks to them.

Used by the tests (through `tests/conftest.py`'s fixtures), `make bench` and
the soak script alike. Every stack here is `inframock run` as a user would
start it, with its own ports, state folder and data folder, so it never
touches a developer's running inframock (4566/6379) and never reaches beyond
127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import boto3
import psutil
import redis

from inframock.core.checkout import CHECKOUT
from inframock.core.probes import http_ok

ROOT = CHECKOUT
"""The checkout: where `make` and `python -m inframock` run."""
READY_LINE = "inframock is ready"
START_TIMEOUT = 60.0


EPHEMERAL_FROM = 32768
"""The first port of the kernel's ephemeral range: client connections'."""
PORTS_FROM = 20000
"""Test ports lie below EPHEMERAL_FROM, so that no client connection takes
one between its choice and the stack's bind."""
PORTS_PER_WORKER = 2000
BLOCKS = (EPHEMERAL_FROM - PORTS_FROM) // PORTS_PER_WORKER


def _worker_ports() -> Iterator[int]:
    """This test process's ports, in turn: its own block per pytest-xdist
    worker (two workers never pick the same one), from a random place in it
    (two test runs side by side hardly ever do either)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    block = int(worker) % BLOCKS if worker.isdigit() else 0
    first = PORTS_FROM + block * PORTS_PER_WORKER
    start = random.randrange(PORTS_PER_WORKER)
    for step in itertools.count():
        yield first + (start + step) % PORTS_PER_WORKER


_PORTS = _worker_ports()


def _bindable(port: int) -> bool:
    """True when a listening socket could bind 127.0.0.1:`port` now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port nobody listens on right now, none of this test process's
    last PORTS_PER_WORKER picks."""
    return next(port for port in _PORTS if _bindable(port))


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_until(condition: Any, timeout: float, what: str) -> None:
    """Poll `condition` until it holds (a readiness check, not a sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


TEST_ENGINE_ENV = "INFRAMOCK_TEST_ENGINE"
"""The engine every stack of the harness runs on (`make test ENGINE=...`);
unset: the default engine."""


def base_env(tmp: Path, **overrides: str) -> dict[str, str]:
    """The environment of a CLI run: free ports, its own state folder, no .env,
    the engine TEST_ENGINE_ENV names; a `make` it runs is a user's own, not a
    sub-make of `make test`; no terminal height (`LINES` is also `make logs`'s
    setting)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "INFRAMOCK_", "BIOMAGE_"))
        and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "LINES")
    }
    env.update(
        INFRAMOCK_AWS_PORT=str(free_port()),
        INFRAMOCK_REDIS_PORT=str(free_port()),
        INFRAMOCK_POSTGRES_PORT=str(free_port()),
        INFRAMOCK_STATE_DIR=str(tmp / "state"),
        BIOMAGE_DATA_PATH=str(tmp / "data"),
        BIOMAGE_API_URL="http://127.0.0.1:9",
        INFRAMOCK_RUNTIME="local",
        INFRAMOCK_ENGINE=os.environ.get(TEST_ENGINE_ENV, ""),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
        # The whole log on stdout, as the tests read it (the terminal's quiet
        # default is tested by tests/lifecycle/test_quiet_output.py).
        INFRAMOCK_VERBOSE="1",
    )
    env.update(overrides)
    return env


def cli(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m inframock <args>` to completion; its stdout and stderr."""
    return _completed([sys.executable, "-m", "inframock", *args], env, timeout)


def make(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `make -s <args>` in the checkout to completion; its stdout and stderr."""
    return _completed(["make", "-s", "--no-print-directory", *args], env, timeout)


def _completed(
    command: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=env,
        cwd=env.get("INFRAMOCK_TEST_CWD", str(ROOT)),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """`command` started in the checkout, its output (stdout and stderr
    merged) to read as it comes."""
    return subprocess.Popen(  # pylint: disable=consider-using-with
        command,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextlib.contextmanager
def standalone_moto(port: int | None = None) -> Iterator[str]:
    """A plain `moto.server` of our own (not an inframock stack), on `port` or a
    free one: another environment to pull from, or an endpoint to kill and
    bring back."""
    port = port or free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "MOTO_ACCOUNT_ID": "000000000000"}
    with engine_process(command, port, env) as endpoint:
        yield endpoint


@contextlib.contextmanager
def engine_process(
    command: list[str],
    port: int,
    env: dict[str, str],
    cwd: Path | None = None,
    what: str = "a moto server",
) -> Iterator[str]:
    """An AWS engine run by `command` on 127.0.0.1:`port`, ready, then stopped."""
    server = subprocess.Popen(  # pylint: disable=consider-using-with
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # moto logs every request: nobody reads them
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http_ok(f"{endpoint}/moto-api/") or server.poll() is not None,
            60,
            what,
        )
        assert server.poll() is None, f"{what} exited with {server.returncode}"
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=20)


class RunningStack:
    """A `python -m inframock run` process and clients for its services."""

    def __init__(
        self, env: dict[str, str], command: list[str] | None = None, cwd: Path = ROOT
    ) -> None:
        self.env = env
        self.aws_port = int(env["INFRAMOCK_AWS_PORT"])
        self.redis_port = int(env["INFRAMOCK_REDIS_PORT"])
        self.endpoint = f"http://127.0.0.1:{self.aws_port}"
        self.lines: list[str] = []
        self.ready_after: float | None = None
        """Seconds from the start of the process to its ready line."""
        self._started = time.monotonic()
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            command or [sys.executable, "-m", "inframock", "run"],
            env=env,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if self.ready_after is None and READY_LINE in line:
                self.ready_after = time.monotonic() - self._started
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        """Everything the stack printed so far."""
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> "RunningStack":
        """Wait for the banner; fail with the output if the process exits first."""
        wait_until(
            lambda: READY_LINE in self.output or self.process.poll() is not None,
            timeout,
            "the stack to be ready",
        )
        assert READY_LINE in self.output, self.output
        return self

    def wait_exit(self, timeout: float = 20) -> int:
        """Wait for the process to end; its exit status."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self) -> None:
        """SIGTERM the stack (if still running) and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.wait_exit()

    def processes(self) -> list[psutil.Process]:
        """Every process of the stack: its command and all their children."""
        root = psutil.Process(self.process.pid)
        return [root] + root.children(recursive=True)

    def client(self, service: str) -> Any:
        """A boto3 client for the stack with dummy credentials."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.env.get("AWS_DEFAULT_REGION", "eu-west-1"),
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def redis(self) -> redis.Redis:
        """A Redis client for the stack."""
        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=5)

    def cli(self, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        """Run another CLI command against this stack."""
        return cli({**self.env, **overrides}, *args)


class Deliveries(http.server.ThreadingHTTPServer):
    """A local HTTP server standing in for the Cellenics API's SNS endpoints."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), DeliveryHandler)
        self.received: list[tuple[str, str, bytes]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class DeliveryHandler(http.server.BaseHTTPRequestHandler):
    """Records each SNS delivery the stack POSTs; answers 200 like the API."""

    server: Deliveries

    def do_POST(self) -> None:  # pylint: disable=invalid-name
        """Record the notification (path, content type, body) and answer 200."""
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(
            (self.path, self.headers.get("Content-Type", ""), body)
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:  # quiet
        pass


class Forwarder:
    """A loopback TCP relay to a local port that records requests or holds them.

    Pointing INFRAMOCK_AWS_ENDPOINT at it shows every byte a command sends to
    the AWS endpoint, or, while it holds, freezes the loader at its first
    request: a phase a test can then hit for certain instead of racing it.
    """

    def __init__(self, upstream_port: int, hold: bool = False) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.sent = bytearray()
        """Everything clients sent through the relay."""
        self.held = threading.Event()
        """Set once a connection has arrived while holding."""
        self._passing = threading.Event()
        self._lock = threading.Lock()
        if not hold:
            self._passing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        """Relay from now on; connections held until now are closed unanswered."""
        self._passing.set()

    def close(self) -> None:
        """Stop accepting connections."""
        self.release()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            if not self._passing.is_set():
                self.held.set()
                self._passing.wait()
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                return
            with upstream:
                replies = threading.Thread(
                    target=self._pump, args=(upstream, conn, False), daemon=True
                )
                replies.start()
                self._pump(conn, upstream, True)
                replies.join()

    def _pump(self, source: socket.socket, target: socket.socket, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record:
                    with self._lock:
                        self.sent += data
                target.sendall(data)
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass
