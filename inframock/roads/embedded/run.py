"""The embedded road: `make run` with no Docker.

Starts moto's server and Redis as children of this process, provisions and
loads the stack once both answer, prints the banner, then stays in the
foreground relaying their logs until a signal or the first child's exit, and
always stops every child, frees the ports and removes its temporary folder.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO, TypeVar

import psutil

from inframock.model.profiles import runs
from inframock.core import console
from inframock import views
from inframock.roads.embedded.control import ControlServer
from inframock.services.engines import aws_service, redis_service
from inframock.core.errors import (
    CANNOT_WRITE,
    InframockError,
    cannot_write,
    check_room,
    reported,
)
from inframock.features.sql.commands import load_sql
from inframock.services.postgres.server import postgres_service
from inframock.core.parent_death import die_with_parent
from inframock.core.private import private_folder
from inframock.core.settings import Settings
from inframock.core.record import WORKDIR_PREFIX, StackRecord, wait_while_stopping
from inframock.roads.embedded.supervisor import (
    Interrupted,
    StartError,
    Supervisor,
    check_port_free,
    describe_exit,
    ignore_signals,
    interrupt_on_signals,
    raise_if_signalled,
)

T = TypeVar("T")
LOG_FILE = "stack.log"
"""The running stack's whole log, in the state folder."""


def run(settings: Settings, detached: bool = False, verbose: bool = False) -> int:
    """Run the stack in the foreground until it is stopped; its exit status.

    A stack that cannot start raises an InframockError once it has stopped
    whatever it had started. `detached` (`make start`): it outlives the
    process that started it, so it does not die with its parent. Every line
    goes to the state folder's stack.log; the terminal shows what a person
    needs, or everything when `verbose` (or INFRAMOCK_LOG=http).
    """
    launched = time.monotonic()
    private_folder(settings.state_dir)
    refuse_if_running(settings)
    _log_to_file(settings, verbose or settings.log == "http")
    check_room(settings.state_dir)
    if not detached:
        die_with_parent(signal.SIGTERM)  # `make run` killed: shut down cleanly
    interrupt_on_signals()
    if settings.exposed:
        console.warn(
            f"listening on {settings.bind}: anyone who can reach this machine on ports "
            f"{settings.aws_port} and {settings.redis_port} can read and change the "
            "stack, which has no authentication."
        )
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    supervisor = Supervisor()
    try:
        return _run(settings, supervisor, workdir, launched, detached)
    except Interrupted as signalled:
        console.note(f"{signalled} received: stopping the stack")
        return signalled.exit_code
    except OSError as err:  # the state folder full: one line, not a traceback
        if err.errno not in CANNOT_WRITE:
            raise
        raise cannot_write(err, settings.state_dir) from None
    finally:
        ignore_signals()
        StackRecord.mark_stopping(settings.state_dir, os.getpid())
        if settings.persist:
            console.note(f"saving the stack's state in {settings.state_dir}")
        supervisor.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        StackRecord.remove(settings.state_dir, os.getpid())
        console.note("stopped")


def _log_to_file(settings: Settings, verbose: bool) -> None:
    """Write this run's whole log to stack.log (the previous run's becomes
    stack.log.1: one start, one log), line by line as it happens."""
    path = log_path(settings)
    rotate(path)
    # pylint: disable-next=consider-using-with
    console.log_to(open(path, "a", encoding="utf-8", buffering=1), verbose)


def log_path(settings: Settings) -> Path:
    """The stack's log (`make run`'s and `make start`'s): `stack.log` in the
    state folder."""
    return settings.state_dir / LOG_FILE


def rotate(path: Path) -> None:
    """Keep the previous log as `<name>.1` (replacing an older one)."""
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))


def refuse_if_running(settings: Settings) -> None:
    """InframockError if a stack of this state folder runs already (one that
    is stopping is waited for)."""
    wait_while_stopping(settings.state_dir)
    running = StackRecord.read_live(settings.state_dir)
    if running is not None:
        raise InframockError(
            f"an inframock stack is already running (pid {running.pid}, "
            f"{running.aws_endpoint}). Use it, or stop it first with `make stop`."
        )


def _run(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    settings: Settings,
    supervisor: Supervisor,
    workdir: Path,
    launched: float,
    detached: bool,
) -> int:
    services = [aws_service(settings), redis_service(settings, workdir)]
    check_port_free(settings.bind, settings.aws_port, "INFRAMOCK_AWS_PORT")
    check_port_free(settings.bind, settings.redis_port, "INFRAMOCK_REDIS_PORT")
    if runs(settings, "postgres"):  # the profile's data says which services run
        services.append(postgres_service(settings))
        check_port_free(
            settings.bind, settings.postgres_port, "INFRAMOCK_POSTGRES_PORT"
        )
    for service in services:
        supervisor.start(service)
    record = StackRecord(
        pid=os.getpid(),
        started=psutil.Process().create_time(),
        aws_endpoint=settings.aws_endpoint,
        redis_url=settings.redis_url,
        services={s.name: s.description for s in services},
        pids={c.service.name: c.process.pid for c in supervisor.children},
        workdir=str(workdir),
        profile=settings.profile,
        persist=settings.persist,
        postgres_port=settings.postgres_port if runs(settings, "postgres") else 0,
        detached=detached,
    )
    record.save(settings.state_dir)
    # While the engines start: import boto3 and build the clients seeding needs.
    # pylint: disable-next=import-outside-toplevel
    from inframock.aws import clients as aws
    from inframock.features.seed import seed  # pylint: disable=import-outside-toplevel

    aws.clients_for(settings.aws_endpoint, settings.region).warm()
    supervisor.wait_ready()
    for service in services:
        if service.on_ready is not None:
            _in_background(service.on_ready, supervisor)
    try:
        result = _in_background(lambda: seed.seed(settings), supervisor)
    except seed.SeedError as err:
        raise StartError(str(err)) from None
    if runs(settings, "postgres"):
        _in_background(lambda: load_sql(settings), supervisor)
    control = ControlServer(
        workdir / "control.sock", functools.partial(_reload_for_client, settings)
    )
    dataclasses.replace(record, control=str(control.path)).save(settings.state_dir)
    with _in_process_services(settings):
        views.banner(settings, services, result, time.monotonic() - launched, detached)
        if detached:
            console.mute_terminal()  # `start` has shown it; the log goes on
        exited = supervisor.wait_for_exit()
    console.error(f"{describe_exit(exited.child, exited.code)}\nstopping the stack")
    return 1


@contextlib.contextmanager
def _in_process_services(settings: Settings) -> Iterator[None]:
    """The services of the profile that run as threads of this process (the
    result relay), from provisioning until the stack stops."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.model.profiles import stack_for

    stack = stack_for(settings)
    relay = None
    if "relay" in stack.services:
        # pylint: disable-next=import-outside-toplevel
        from inframock.services.relay import ResultRelay

        relay = ResultRelay(settings, stack).start()
    try:
        yield
    finally:
        if relay is not None:
            relay.stop()


def _reload_for_client(
    running: Settings, request: dict[str, Any], stream: TextIO
) -> int:
    """A `make reload-data` from another terminal, run here with warm clients."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.features.seed.seed import seed_status

    with console.redirected(stream, request["terminal"], request["width"]):
        return reported(
            lambda: seed_status(
                _same_profile(running, Settings.from_raw(request["settings"])),
                request["everything"],
            )
        )


def _same_profile(running: Settings, asked: Settings) -> Settings:
    """The reload's settings, on this stack's own endpoints (the terminal
    asking may set other ports), unless they name another profile than this
    stack's: that reload would provision a second stack into this one."""
    if asked.profile != running.profile:
        raise InframockError(
            f"the running stack serves profile {running.profile}, this reload "
            f"asks for {asked.profile}: set INFRAMOCK_PROFILE={running.profile}, "
            "or restart the stack with the other profile"
        )
    return dataclasses.replace(
        asked,
        bind=running.bind,
        aws_port=running.aws_port,
        redis_port=running.redis_port,
        postgres_port=running.postgres_port,
        aws_endpoint_override=running.aws_endpoint_override,
    )


def _in_background(work: Callable[[], T], supervisor: Supervisor) -> T:
    """Run `work` in a thread, failing fast if a service dies meanwhile.

    The main thread stays free to receive signals: a Ctrl-C during a long load
    stops the stack at once instead of waiting for the load to finish.
    """
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def target() -> None:
        try:
            future.set_result(work())
        except BaseException as err:  # pylint: disable=broad-exception-caught
            future.set_exception(err)

    threading.Thread(target=target, name="seed", daemon=True).start()
    while True:
        raise_if_signalled()
        try:
            exited = supervisor.events.get(timeout=0.05)
        except queue.Empty:
            if future.done():
                return future.result()
            continue
        raise StartError(describe_exit(exited.child, exited.code))
