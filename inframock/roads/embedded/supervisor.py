"""One owner for every child process of the embedded stack.

Modelled on honcho's Manager: each child's output is relayed line by line with
its service name, each child's exit becomes an event on one queue, and the
first exit or signal stops everything. Beyond honcho it waits for readiness,
refuses ports that are taken, and ties each child's life to its parent's with
PR_SET_PDEATHSIG, so that not even a SIGKILL of `make run` leaves one behind.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import functools
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from typing import IO, Callable

import psutil

from inframock.core import console
from inframock.core.parent_death import die_with_parent
from inframock.services.base import Service
from inframock.core.errors import InframockError

STOP_GRACE = 3.0
"""Seconds a child has to exit after SIGTERM before it is killed."""
READY_TIMEOUT = 30.0
LAST_LINES = 15


class StartError(InframockError):
    """The stack could not start; the message says why and what to do."""


ASKED_STOPS = (signal.SIGINT, signal.SIGTERM)
"""The signals of a stop the user asked for (Ctrl-C, `make stop`)."""


class Interrupted(InframockError):
    """A signal asked the stack to stop: not a failure. A stop the user asked
    for (ASKED_STOPS) ends the run with status 0, so that `make` adds no
    `Error 130` of its own; any other signal (SIGHUP: the terminal closed)
    with the conventional 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 0 if signum in ASKED_STOPS else 128 + signum


_RECEIVED: list[int] = []
"""The signal that asked this process to stop, once one has."""


def interrupt_on_signals() -> None:
    """Turn the first SIGINT, SIGTERM or SIGHUP into `Interrupted` in the main thread.

    Only the first: a second signal close behind it (Ctrl-C and `make stop`
    together) would otherwise raise again inside the shutdown the first one
    started, cutting it short with a traceback and the wrong exit status.
    """

    def handler(signum: int, _frame: object) -> None:
        if _RECEIVED:
            return
        _RECEIVED.append(signum)
        raise Interrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


def raise_if_signalled() -> None:
    """Raise `Interrupted` again for a signal whose exception got lost on its way.

    A handler's exception can vanish: raised while a module imports, C code
    may turn it into an ImportError that the module's own `except ImportError`
    swallows (xml.etree does, under boto3). Every waiting loop calls this, so
    such a signal still stops the stack a moment later.
    """
    if _RECEIVED:
        raise Interrupted(_RECEIVED[0])


def ignore_signals() -> None:
    """Let a shutdown that has begun finish, whatever else arrives."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def check_port_free(host: str, port: int, setting: str) -> None:
    """Raise StartError naming the port (and who holds it) if it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            return
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise StartError(
                    f"cannot listen on {host}:{port}: {err.strerror}"
                ) from None
    raise StartError(
        f"port {port} on {host} is already in use{port_holder(port)}. "
        f"Stop it, or choose another port with {setting}."
    )


def port_holder(port: int) -> str:
    """`" by redis-server (pid 123)"` for the process listening on `port`, if known."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return ""
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return ""
            try:
                return f" by {psutil.Process(conn.pid).name()} (pid {conn.pid})"
            except psutil.Error:
                return f" by pid {conn.pid}"
    return ""


def _become_child(run_as: tuple[int, int] | None, signum: int, parent: int) -> None:
    """Between fork and exec: drop to `run_as`, then die with the parent.

    The order matters: changing credentials clears the parent-death signal.
    """
    if run_as is not None:
        os.setgroups([])
        os.setgid(run_as[1])
        os.setuid(run_as[0])
    die_with_parent(signum, parent=parent)


@dataclasses.dataclass
class Child:
    """A running service and the tail of its output."""

    service: Service
    process: subprocess.Popen[bytes]
    last_lines: collections.deque[str] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=LAST_LINES)
    )
    relay: threading.Thread | None = None


@dataclasses.dataclass(frozen=True)
class Exited:
    """A child has exited (the event the supervisor's loop waits for)."""

    child: Child
    code: int


class Supervisor:
    """Starts services, relays their output, and stops them all together."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.events: queue.Queue[Exited] = queue.Queue()

    def start(self, service: Service) -> Child:
        """Start `service` as a child that dies with this process."""
        if service.prepare is not None:
            try:
                service.prepare()
            except OSError as err:
                raise StartError(
                    f"cannot prepare {service.name}: {err.filename or ''}: "
                    f"{err.strerror}. Check that path's owner and permissions, "
                    "then start again"
                ) from None
        try:
            # pylint: disable-next=consider-using-with,subprocess-popen-preexec-fn
            process = subprocess.Popen(
                service.command,
                env=service.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C reaches us only
                preexec_fn=functools.partial(
                    _become_child, service.run_as, service.death_signal, os.getpid()
                ),
            )
        except OSError as err:
            raise StartError(
                f"cannot start {service.name}: {err.filename or service.command[0]}: "
                f"{err.strerror}. Check that it exists and that its user may run it"
            ) from None
        child = Child(service, process)
        self.children.append(child)
        child.relay = threading.Thread(
            target=self._relay, args=(child,), name=f"relay-{service.name}", daemon=True
        )
        child.relay.start()
        return child

    def _relay(self, child: Child) -> None:
        stream: IO[bytes] | None = child.process.stdout
        assert stream is not None
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            child.last_lines.append(line)
            console.service_line(child.service.name, line, child.service.style)
        self.events.put(Exited(child, child.process.wait()))

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Return once every child answers its readiness probe.

        Raises StartError if a child exits or the timeout passes first.
        """
        deadline = time.monotonic() + timeout
        waiting = list(self.children)
        while waiting:
            raise_if_signalled()
            self.raise_if_exited()
            for child in [c for c in waiting if c.service.is_ready()]:
                waiting.remove(child)
                service = child.service
                console.note(f"{service.name} ({service.description}) is up")
            if waiting and time.monotonic() > deadline:
                names = ", ".join(c.service.name for c in waiting)
                raise StartError(f"{names} did not become ready within {timeout:.0f} s")
            if waiting:
                time.sleep(0.02)

    def raise_if_exited(self) -> None:
        """Raise StartError describing the first child that has exited, if any."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                if child.relay is not None:
                    child.relay.join(timeout=1.0)  # its last lines, for the message
                raise StartError(describe_exit(child, code))

    def wait_for_exit(self, tick: Callable[[], None] = lambda: None) -> Exited:
        """Block until a child exits (signals interrupt this as `Interrupted`)."""
        while True:
            raise_if_signalled()
            try:
                return self.events.get(timeout=0.5)
            except queue.Empty:
                tick()

    def stop_all(self) -> None:
        """Ask every child to stop (its `stop_signal`), give each its
        `stop_timeout` (STOP_GRACE, or longer for one that saves the state),
        then SIGKILL the rest."""
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(child.service.stop_signal)
        asked = time.monotonic()
        for child in self.children:
            deadline = asked + max(STOP_GRACE, child.service.stop_timeout)
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        for child in self.children:
            if child.relay is not None:
                child.relay.join(timeout=1.0)


def describe_exit(child: Child, code: int) -> str:
    """Which service stopped, how, and its last words."""
    how = (
        f"was killed by {signal.Signals(-code).name}"
        if code < 0
        else f"exited with code {code}"
    )
    tail = "\n".join(f"    {line}" for line in child.last_lines)
    last = f"; its last output:\n{tail}" if tail else " without output"
    return f"{child.service.name} ({child.service.description}) {how}{last}"
