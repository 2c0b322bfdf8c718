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

from inframock.core import console
from inframock.views import banner as views_banner
from inframock.roads.embedded.control import ControlServer
from inframock.roads.embedded.persisted import state_rows
from inframock.core.errors import (
    CANNOT_WRITE,
    InframockError,
    cannot_write,
    check_room,
    reported,
)
from inframock.core.parent_death import die_with_parent
from inframock.core.private import private_folder
from inframock.core.settings import Settings
from inframock.model.profiles import stack_for
from inframock.services.base import AFTER_LOAD_WAIT, Declaration, Service
from inframock.services.registry import SERVICES, services_for
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
    declared = services_for(settings)  # the profile's data says which run
    services = _start_children(settings, declared, supervisor, workdir)
    record = _record(settings, declared, supervisor, workdir, detached)
    record.save(settings.state_dir)
    # While the engines start: import boto3 and build the clients seeding needs.
    # pylint: disable-next=import-outside-toplevel
    from inframock.aws import clients as aws
    from inframock.features.seed import seed  # pylint: disable=import-outside-toplevel

    aws.clients_for(settings.aws_endpoint, settings.region).warm(stack_for(settings))
    supervisor.wait_ready()
    for service in services:
        if service.on_ready is not None:
            _in_background(service.on_ready, supervisor)
    try:
        result = _in_background(lambda: seed.seed(settings), supervisor)
    except seed.SeedError as err:
        raise StartError(str(err)) from None
    _after_load(settings, declared, supervisor)
    control = ControlServer(
        workdir / "control.sock", functools.partial(_reload_for_client, settings)
    )
    dataclasses.replace(record, control=str(control.path)).save(settings.state_dir)
    with _threads(settings, declared):
        views_banner.banner(
            _ready(settings, declared, services),
            result,
            time.monotonic() - launched,
            detached,
        )
        if detached:
            console.mute_terminal()  # `start` has shown it; the log goes on
        exited = supervisor.wait_for_exit()
    console.error(f"{describe_exit(exited.child, exited.code)}\nstopping the stack")
    return 1


def _start_children(
    settings: Settings,
    declared: list[Declaration],
    supervisor: Supervisor,
    workdir: Path,
) -> list[Service]:
    """Start the child processes of the declared services, once every port
    they listen on is known to be free."""
    children = [d.child(settings, workdir) for d in declared if d.child is not None]
    for listening in (d for d in declared if d.port_field):
        check_port_free(settings.bind, listening.port(settings), listening.port_setting)
    for child in children:
        supervisor.start(child)
    return children


def _after_load(
    settings: Settings, declared: list[Declaration], supervisor: Supervisor
) -> None:
    """Each service's own part of the data folder (postgres: `sql/`), once
    the rest is loaded; a failure is its own warnings, not a failed start."""
    for after_load in (d.after_load for d in declared if d.after_load is not None):
        _in_background(
            functools.partial(after_load, settings, AFTER_LOAD_WAIT), supervisor
        )


@contextlib.contextmanager
def _threads(settings: Settings, declared: list[Declaration]) -> Iterator[None]:
    """The services that run inside `make run` (the relay), from provisioning
    until the stack stops."""
    with contextlib.ExitStack() as threads:
        for service in declared:
            threads.enter_context(service.thread(settings))
        yield


def _ready(
    settings: Settings, declared: list[Declaration], children: list[Service]
) -> views_banner.Ready:
    """What the banner shows: each child and its address, the services' own
    rows, and what the saved state is."""
    return views_banner.Ready(
        settings,
        [(child.name, child.description) for child in children],
        {d.name: d.address(settings) for d in declared},
        [row for d in declared for row in d.banner_rows(settings)]
        + state_rows(settings),
    )


def _record(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    settings: Settings,
    declared: list[Declaration],
    supervisor: Supervisor,
    workdir: Path,
    detached: bool,
) -> StackRecord:
    """The record of this stack, once its children are started."""
    return StackRecord(
        pid=os.getpid(),
        started=psutil.Process().create_time(),
        aws_endpoint=settings.aws_endpoint,
        redis_url=settings.redis_url,
        services={c.service.name: c.service.description for c in supervisor.children},
        pids={c.service.name: c.process.pid for c in supervisor.children},
        workdir=str(workdir),
        profile=settings.profile,
        persist=settings.persist,
        ports={d.port_field: d.port(settings) for d in declared if d.port_field},
        detached=detached,
    )


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
        **{d.port_field: d.port(running) for d in SERVICES.values() if d.port_field},
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
    while True:  # woken by the work's end, not a tick after it
        raise_if_signalled()
        done, _ = concurrent.futures.wait([future], timeout=0.05)
        try:  # a service that died explains the work's failure better
            exited = supervisor.events.get_nowait()
        except queue.Empty:
            if done:
                return future.result()
            continue
        raise StartError(describe_exit(exited.child, exited.code))
