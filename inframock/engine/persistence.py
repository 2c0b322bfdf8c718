"""The engine's whole state kept across restarts (INFRAMOCK_PERSIST).

moto keeps everything in memory, in one `BackendDict` per service (account →
region → backend object). With `INFRAMOCK_ENGINE_STATE` set to a folder, the
engine pickles every backend in use when it stops and puts them back, in
process, before it serves its first request; nothing goes through HTTP.

How moto's objects are pickled (S3 objects' bytes as files of their own,
locks made anew, Step Functions machines without their executions) is
inframock.engine.pickling's. Where the files are and how the client side
reads them is inframock.engine.protocol's.

Messages in flight become visible again on restore (their receiver is gone).

A backend that still cannot be pickled (a moto release holding something new)
does not cost the others their state: the save is tried again without it, and
the log names its service, account and region and why it was not kept.

The save is atomic: object files are new names that no saved state refers to
yet, the state itself is written to a temporary name and renamed over
`engine.pickle` only when whole, and only then are object files no state
refers to any more removed. A crash or `kill -9` at any point of a save
leaves the previous state readable; the next start removes what it left. A
save that fails (a full disk) removes what it wrote, and says so in one line.
A lock file keeps a restore from reading while an earlier engine still saves.
An object whose file is missing or cut short costs only that object
(inframock.engine.saved_objects, which owns the object files). Nothing here
depends on anyone reading the log (inframock.engine.unread_output).

tests/lifecycle/test_persist.py (its moto test) tells when a moto release changes
what this relies on: `BackendDict`/`AccountSpecificBackend`, `FakeKey`'s
buffer and lock, SQS messages' `visible_at`, a state machine's `executions`,
Lambda's weak `_arns` and `defaultdict(lambda: {})` aliases.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import importlib
import importlib.metadata
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from inframock.engine import pickling, saved_objects
from inframock.engine.protocol import (
    LOCK_FILE,
    OBJECTS,
    RESTORED_FILE,
    STATE_FILE,
    describe,
)
from inframock.engine.saved_objects import PROGRESS_EVERY, Blobs, log
from inframock.core.errors import cannot_write, free_space

PAUSE_ENV = "INFRAMOCK_ENGINE_SAVE_PAUSE"
"""Seconds a save waits before it commits (tests kill the engine there)."""

FORMAT = 1
ATTEMPTS = 3
"""Saves tried when a request still finishing changes a backend meanwhile."""
SKIPPED_SERVICES = frozenset({"moto_api"})
"""Backends that hold the engine's own machinery, not AWS state."""


def _backend_dicts() -> Iterator[tuple[str, str, Any]]:
    """(module, attribute, BackendDict) of every moto service in use."""
    from moto.core.base_backend import (  # pylint: disable=import-outside-toplevel
        BackendDict,
    )

    for backends in list(BackendDict._instances):  # pylint: disable=protected-access
        if backends.service_name in SKIPPED_SERVICES:
            continue
        module = sys.modules.get(backends.backend.__module__)
        found = [
            name
            for name, value in vars(module or object()).items()
            if value is backends
        ]
        if found:
            yield backends.backend.__module__, found[0], backends


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the state folder's lock (another engine may still be saving)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("waiting for the previous engine to finish saving its state")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def counts() -> dict[str, int]:
    """What the engine holds: tables, items, buckets, object versions, bytes,
    queues, messages, topics, subscriptions."""
    found = dict.fromkeys(
        (
            "tables",
            "items",
            "buckets",
            "object_versions",
            "bytes",
            "queues",
            "messages",
            "topics",
            "subscriptions",
        ),
        0,
    )
    for _, _, backends in _backend_dicts():
        for _, _, backend in backends.iter_backends():
            try:
                _count(backends.service_name, backend, found)
            except (AttributeError, TypeError) as err:  # counts only inform
                log(f"cannot count {backends.service_name}'s resources: {err!r}")
    return found


def _count(service: str, backend: Any, found: dict[str, int]) -> None:
    if service == "dynamodb":
        for table in backend.tables.values():
            found["tables"] += 1
            found["items"] += len(table)
    elif service == "s3":
        for bucket in backend.buckets.values():
            found["buckets"] += 1
            for name in list(bucket.keys):
                for key in bucket.keys.getlist(name):
                    if hasattr(key, "size"):
                        found["object_versions"] += 1
                        found["bytes"] += key.size
    elif service == "sqs":
        for queue in backend.queues.values():
            found["queues"] += 1
            found["messages"] += len(queue._messages)  # pylint: disable=W0212
    elif service == "sns":
        found["topics"] += len(backend.topics)
        found["subscriptions"] += len(backend.subscriptions)


def save(folder: Path, with_file: Path | None = None) -> None:
    """Write the engine's whole state to `folder`, atomically."""
    started = time.monotonic()
    with _locked(folder):
        blobs = Blobs(folder / OBJECTS)
        entries = [
            (module, attribute, account, region, backend)
            for module, attribute, backends in _backend_dicts()
            for account, region, backend in backends.iter_backends()
        ]
        header = {
            "format": FORMAT,
            "moto": _moto_version(),
            "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "counts": counts(),
            "with": _read(with_file),
        }
        partial = folder / f".{STATE_FILE}.{os.getpid()}.partial"
        try:
            _write_state(partial, header, entries, blobs)
            _pause(float(os.environ.get(PAUSE_ENV) or 0))
            partial.rename(folder / STATE_FILE)
        except BaseException as err:
            free = free_space(folder)
            partial.unlink(missing_ok=True)
            blobs.discard()  # the state saved before is whole, the disk as it was
            if isinstance(err, OSError):
                raise SaveError(f"{err.strerror} in {folder}, {free}") from None
            raise
        _fsync_dir(folder)
        removed = blobs.remove_unused()
        for stale in folder.glob(f".{STATE_FILE}.*.partial"):
            stale.unlink(missing_ok=True)
    found = header["counts"]
    log(
        f"state saved in {time.monotonic() - started:.2f} s: {describe(found)}; "
        f"{blobs.written / 1e6:,.1f} MB of objects written, {blobs.linked} linked, "
        f"{removed} unused removed"
    )


def _write_state(
    partial: Path, header: dict[str, Any], entries: list[Any], blobs: Blobs
) -> None:
    """Pickle `entries` to `partial`, without those that cannot be pickled."""
    attempt = 1
    header["not_kept"] = []
    while True:
        try:
            with partial.open("wb") as out:
                pickle.dump(header, out, protocol=pickle.HIGHEST_PROTOCOL)
                pickling.StatePickler(out, blobs).dump(entries)
                out.flush()
                os.fsync(out.fileno())
            return
        except Exception as err:  # pylint: disable=broad-exception-caught
            if pickling.changed_while_read(err):
                if attempt == ATTEMPTS:
                    raise
                attempt += 1
                log(f"saving state: {err}; again ({attempt} of {ATTEMPTS})")
                continue
            failing = pickling.unpicklable(entries)
            if not failing:
                raise
            for (module, _, account, region, _), why in failing:
                name = f"{module.split('.')[1]} ({account}, {region})"
                header["not_kept"].append(name)
                log(
                    f"error: the state of {name} cannot be saved and is not "
                    f"kept ({why}); the other services' state is saved"
                )
            dropped = [id(entry) for entry, _ in failing]
            entries = [entry for entry in entries if id(entry) not in dropped]


class SaveError(Exception):
    """A save that could not be written (a full disk); nothing of it is left."""


def _pause(seconds: float) -> None:
    """A save made long (PAUSE_ENV), writing progress lines as a long one does."""
    if not seconds:
        return
    log(f"saving state: pausing {seconds:g} s before it is committed")
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(left, PROGRESS_EVERY))
        log(f"saving state: paused, {max(0.0, until - time.monotonic()):.0f} s left")


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError:
        return None


def _moto_version() -> str:
    return importlib.metadata.version("moto")


def restore(folder: Path, with_file: Path | None = None) -> dict[str, Any] | None:
    """Put the saved state back into moto's backends; what was restored.

    Returns None when nothing was saved. Writes `restored.json` in `folder`
    either way, for the banner and `make status`; a folder it cannot write in
    (a full disk) is a RestoreError, with the saved state left as it is.
    """
    try:
        return _restore(folder, with_file)
    except OSError as err:
        raise RestoreError(str(cannot_write(err, folder))) from None


def _restore(folder: Path, with_file: Path | None) -> dict[str, Any] | None:
    started = time.monotonic()
    with _locked(folder):
        if not (folder / STATE_FILE).is_file():
            _write_json(folder / RESTORED_FILE, {"restored": False, "pid": os.getpid()})
            return None
        header, entries, damaged = _read_state(folder)
    for module, attribute, account, region, backend in entries:
        dict.__setitem__(
            getattr(importlib.import_module(module), attribute)[account],
            region,
            backend,
        )
    dropped = saved_objects.drop(
        (entry[-1] for entry in entries if entry[0] == "moto.s3.models"), damaged
    )
    _messages_visible_again()
    if with_file is not None and header.get("with") is not None:
        _write_atomically(with_file, header["with"])
    summary = {
        "restored": True,
        "pid": os.getpid(),
        "saved_at": header["saved_at"],
        "counts": header["counts"],
        "dropped": dropped,
        "seconds": round(time.monotonic() - started, 3),
    }
    _write_json(folder / RESTORED_FILE, summary)
    for name in header.get("not_kept", []):
        log(f"warning: the state of {name} was not saved: it starts empty")
    log(
        f"state restored in {summary['seconds']:.2f} s (saved {header['saved_at']}): "
        f"{describe(header['counts'])}"
    )
    return summary


def _read_state(folder: Path) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """The header and backends saved in `folder`, their S3 keys given their
    bytes, and those whose file is damaged; what a killed save left is removed."""
    header, entries, keys = _load(folder / STATE_FILE)
    damaged = saved_objects.attach(folder / OBJECTS, keys)
    saved_objects.remove_stale(folder, folder / OBJECTS, {name for _, name in keys})
    return header, entries, damaged


class RestoreError(Exception):
    """The saved state cannot be read by this engine; the message says why
    and what to do."""


def _load(path: Path) -> tuple[dict[str, Any], list[Any], list[tuple[Any, str]]]:
    """The header and backends saved in `path`, and the S3 keys among them
    with their object files' names; or RestoreError."""
    advice = (
        "the saved state is left as it is: start clean with `make clean-state`, "
        "or start without INFRAMOCK_PERSIST"
    )
    try:
        with path.open("rb") as stream:
            header = pickle.load(stream)
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise RestoreError(f"{path}: not a state this engine wrote; {advice}")
            if header.get("moto") != _moto_version():
                raise RestoreError(
                    f"{path} was saved by moto {header.get('moto')}, this engine "
                    f"runs moto {_moto_version()}; {advice} (or carry the state "
                    "over with `make snapshot`/`make restore` on the old version)"
                )
            entries, keys = pickling.load(stream)
            return header, entries, keys
    except RestoreError:
        raise
    except Exception as err:  # pylint: disable=broad-exception-caught
        raise RestoreError(f"{path}: cannot be read ({err!r}); {advice}") from None


def _messages_visible_again() -> None:
    """Messages received before the save: their receivers are gone."""
    from moto.sqs.models import sqs_backends  # pylint: disable=import-outside-toplevel

    for _, _, backend in sqs_backends.iter_backends():
        for queue in backend.queues.values():
            for message in queue._messages:  # pylint: disable=protected-access
                message.visible_at = 0.0
            queue._pending_messages = set()  # pylint: disable=protected-access


def _write_json(path: Path, document: dict[str, Any]) -> None:
    _write_atomically(path, json.dumps(document, indent=2))


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    partial.rename(path)
