"""The engine's whole state kept across restarts (INFRAMOCK_PERSIST).

moto keeps everything in memory, in one `BackendDict` per service (account →
region → backend object). With `INFRAMOCK_ENGINE_STATE` set to a folder, the
engine pickles every backend in use when it stops and puts them back, in
process, before it serves its first request; nothing goes through HTTP.

What pickle cannot take as moto holds it is reduced here, in one place:

- an S3 object's bytes (`FakeKey._value_buffer`, a temporary file) are not
  copied into the pickle but kept as a file of their own under `objects/`,
  written once; a restored key reads that file (object_files.FileValue:
  opened per read, copied on write) instead of a copy, so a restore costs the
  same with 5 GB of objects as with none, and the next save of a key restored
  that way writes nothing. A key whose bytes already live in a file (a cached
  data-folder object, `object_files.backing_file`) is hard-linked;
- locks and conditions (`FakeKey.lock`, SQS's `Queue._messages_lock`) are
  made anew; weak dictionaries (Lambda's `_arns`) are kept as their entries,
  and a `defaultdict(lambda: {})` (Lambda's aliases) as a `defaultdict(dict)`;
- a Step Functions state machine (and each of its versions) is kept without
  its executions: a running one holds the interpreter's threads, events and
  weak dictionaries, and no execution could go on after a restart anyway. The
  machine (definition, role, versions, aliases, tags, dates) and activities
  are kept; an execution's ARN then answers ExecutionDoesNotExist.

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

import collections
import contextlib
import datetime
import fcntl
import importlib
import importlib.metadata
import json
import os
import pickle
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from inframock.engine import saved_objects
from inframock.engine.saved_objects import PROGRESS_EVERY, Blobs, log
from inframock.core.errors import cannot_write, free_space

STATE_ENV = "INFRAMOCK_ENGINE_STATE"
"""The folder the engine saves its state in; unset: nothing is kept."""
WITH_ENV = "INFRAMOCK_ENGINE_STATE_WITH"
"""A file saved and restored with the state (the loader's record of loaded files)."""
PAUSE_ENV = "INFRAMOCK_ENGINE_SAVE_PAUSE"
"""Seconds a save waits before it commits (tests kill the engine there)."""

STATE_FILE = "engine.pickle"
RESTORED_FILE = "restored.json"
OBJECTS = "objects"
LOCK_FILE = "lock"
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


FACTORIES: dict[type, Any] = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
}
"""What makes a new lock of a type that cannot be instantiated itself."""


def _fresh_lock(factory: Any) -> Any:
    return factory()


class _Pickler(pickle.Pickler):
    """moto's backends, with object bytes as files and locks made anew."""

    def __init__(self, stream: BinaryIO, blobs: "Blobs | _NoBlobs") -> None:
        super().__init__(stream, protocol=pickle.HIGHEST_PROTOCOL)
        self.blobs = blobs
        # pylint: disable=import-outside-toplevel
        from moto.s3.models import FakeKey
        from moto.stepfunctions.models import StateMachineInstance

        self.fake_key = FakeKey
        self.state_machine = StateMachineInstance
        self.locks = (
            type(threading.Lock()),
            type(threading.RLock()),
            threading.Condition,
            threading.Event,
            threading.Semaphore,
        )

    def reducer_override(self, obj: Any) -> Any:
        """How `obj` is pickled, where moto's own way will not do."""
        if isinstance(obj, self.fake_key):
            state = {
                k: v for k, v in vars(obj).items() if k not in ("_value_buffer", "lock")
            }
            state["_inframock_blob"] = self.blobs.keep(obj)
            return (_new_key, (type(obj),), state, None, None, _set_key_state)
        if isinstance(obj, self.state_machine):
            state = dict(vars(obj), executions=[])  # they end with the engine
            return (_new_key, (type(obj),), state)
        if isinstance(obj, dict) and type(obj).__module__.startswith("moto."):
            # moto's dict subclasses: S3's version store yields only the
            # latest version from items(); keep the dict's own entries.
            return (
                _new_key,
                (type(obj),),
                (
                    dict(vars(obj)) if hasattr(obj, "__dict__") else {},
                    {k: dict.__getitem__(obj, k) for k in dict.keys(obj)},
                ),
                None,
                None,
                _set_dict_state,
            )
        return self._reduce_machinery(obj)

    def _reduce_machinery(self, obj: Any) -> Any:
        """Locks made anew, weak and lambda-made dicts kept as their entries."""
        if isinstance(obj, (weakref.WeakValueDictionary, weakref.WeakKeyDictionary)):
            # Lambda's ARN index: its entries, weak again once restored.
            return (_weak_dict, (type(obj), dict(obj.items())))
        if isinstance(obj, collections.defaultdict):
            made = _plain_factory(obj.default_factory)
            if made is not None:  # Lambda's aliases: `defaultdict(lambda: {})`
                return (collections.defaultdict, (made, dict(obj)))
        if isinstance(obj, self.locks):
            return (_fresh_lock, (FACTORIES.get(type(obj), type(obj)),))
        return NotImplemented


_RESTORED_KEYS: list[tuple[Any, str]] = []
"""The S3 keys a restore unpickled, each with the name of its object file
(given their bytes once the whole state is read: `saved_objects.attach`)."""


def _new_key(kind: type) -> Any:
    return kind.__new__(kind)


def _plain_factory(factory: Any) -> type | None:
    """`dict` for `lambda: {}` (likewise list, set), which pickle cannot take;
    None for any other factory, pickled as it is."""
    if getattr(factory, "__name__", None) != "<lambda>":
        return None
    try:
        made = factory()
    except TypeError:
        return None
    return type(made) if type(made) in (dict, list, set) and not made else None


def _weak_dict(kind: type, entries: dict[Any, Any]) -> Any:
    return kind(entries)


class _Discard:
    """A stream that keeps nothing: what a trial pickling writes to."""

    def write(self, data: bytes) -> int:
        """Nothing kept."""
        return len(data)


class _NoBlobs:
    """Object files for a trial pickling: none written."""

    def keep(self, _key: Any) -> str:
        """A name no file has."""
        return ""


def _changed_while_read(err: BaseException) -> bool:
    """A dict or list changed while pickled (a late request): try again."""
    return isinstance(err, RuntimeError) and not isinstance(err, RecursionError)


def unpicklable(entries: list[tuple[Any, ...]]) -> list[tuple[tuple[Any, ...], str]]:
    """The entries (`(module, attribute, account, region, backend)`) that
    cannot be pickled alone, each with why; written nowhere."""
    found = []
    for entry in entries:
        try:
            _Pickler(_Discard(), _NoBlobs()).dump(entry)  # type: ignore[arg-type]
        except Exception as err:  # pylint: disable=broad-exception-caught
            if not _changed_while_read(err):
                found.append((entry, repr(err)))
    return found


def _set_dict_state(store: Any, state: tuple[dict[str, Any], dict[Any, Any]]) -> None:
    attributes, entries = state
    if attributes:
        store.__dict__.update(attributes)
    dict.update(store, entries)


def _set_key_state(key: Any, state: dict[str, Any]) -> None:
    blob = state.pop("_inframock_blob")
    key.__dict__.update(state)
    key.lock = threading.Lock()
    _RESTORED_KEYS.append((key, blob))


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
                _Pickler(out, blobs).dump(entries)
                out.flush()
                os.fsync(out.fileno())
            return
        except Exception as err:  # pylint: disable=broad-exception-caught
            if _changed_while_read(err):
                if attempt == ATTEMPTS:
                    raise
                attempt += 1
                log(f"saving state: {err}; again ({attempt} of {ATTEMPTS})")
                continue
            failing = unpicklable(entries)
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


def describe(found: dict[str, int]) -> str:
    """`4 tables (14 items), 7 buckets (9 object versions, 12.6 MB), ...`."""
    return (
        f"{found['tables']} tables ({found['items']} items), "
        f"{found['buckets']} buckets ({found['object_versions']} object versions, "
        f"{found['bytes'] / 1e6:,.1f} MB), {found['queues']} queues "
        f"({found['messages']} messages), {found['topics']} topics "
        f"({found['subscriptions']} subscriptions)"
    )


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
    _RESTORED_KEYS.clear()
    header, entries = _load(folder / STATE_FILE)
    keys, _RESTORED_KEYS[:] = list(_RESTORED_KEYS), []
    damaged = saved_objects.attach(folder / OBJECTS, keys)
    saved_objects.remove_stale(folder, folder / OBJECTS, {name for _, name in keys})
    return header, entries, damaged


class RestoreError(Exception):
    """The saved state cannot be read by this engine; the message says why
    and what to do."""


def _load(path: Path) -> tuple[dict[str, Any], list[Any]]:
    """The header and backends saved in `path`, or RestoreError."""
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
            return header, pickle.load(stream)
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


def last_restore(folder: Path, engine_pid: int | None = None) -> dict[str, Any] | None:
    """What the engine restored when it started (`restored.json`), if it is
    the engine `engine_pid`'s (when given) and the file can be read."""
    try:
        document = json.loads((folder / RESTORED_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    if engine_pid is not None and document.get("pid") != engine_pid:
        return None
    return document


def saved_at(folder: Path) -> str | None:
    """When the state in `folder` was saved; None when there is none."""
    try:
        with (folder / STATE_FILE).open("rb") as stream:
            header = pickle.load(stream)  # the small header only
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return str(header.get("saved_at")) if isinstance(header, dict) else None


def describe_restore(document: dict[str, Any] | None, folder: Path) -> str:
    """One line for the banner and `make status` about the saved state."""
    if document is None:
        return f"none restored (no record in {folder})"
    if not document.get("restored"):
        return f"nothing saved yet: saved to {folder} when the stack stops"
    when = str(document.get("saved_at", "?"))[:19].replace("T", " ")
    dropped = document.get("dropped") or []
    more = ", ..." if len(dropped) > 3 else ""
    damaged = (
        f"; {len(dropped)} damaged objects dropped: {', '.join(dropped[:3])}{more}"
        if dropped
        else ""
    )
    return (
        f"restored {describe(document['counts'])} saved {when} UTC, "
        f"in {float(document.get('seconds', 0)):.2f} s{damaged}"
    )
