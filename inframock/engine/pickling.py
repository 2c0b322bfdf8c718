"""moto's backends as pickle takes them: what pickle cannot take is reduced here.

The engine's saved state (inframock.engine.persistence) is its backends,
pickled. What pickle cannot take as moto holds it, or should not take, is
reduced here, in one place:

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

`unpicklable` names the backends that still cannot be pickled (a moto
release holding something new), so that a save can go on without them.
"""

from __future__ import annotations

import collections
import pickle
import threading
import weakref
from typing import Any, BinaryIO

from inframock.engine.saved_objects import Blobs

FACTORIES: dict[type, Any] = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
}
"""What makes a new lock of a type that cannot be instantiated itself."""


def _fresh_lock(factory: Any) -> Any:
    return factory()


class StatePickler(pickle.Pickler):
    """moto's backends, with object bytes as files and locks made anew."""

    def __init__(self, stream: BinaryIO, blobs: Blobs | _NoBlobs) -> None:
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


_LOADED_KEYS: list[tuple[Any, str]] = []
"""The S3 keys `load` is unpickling, each with the name of its object file."""


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


def changed_while_read(err: BaseException) -> bool:
    """A dict or list changed while pickled (a late request): try again."""
    return isinstance(err, RuntimeError) and not isinstance(err, RecursionError)


def unpicklable(entries: list[tuple[Any, ...]]) -> list[tuple[tuple[Any, ...], str]]:
    """The entries (`(module, attribute, account, region, backend)`) that
    cannot be pickled alone, each with why; written nowhere."""
    found = []
    for entry in entries:
        try:
            StatePickler(_Discard(), _NoBlobs()).dump(entry)  # type: ignore[arg-type]
        except Exception as err:  # pylint: disable=broad-exception-caught
            if not changed_while_read(err):
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
    _LOADED_KEYS.append((key, blob))


def load(stream: BinaryIO) -> tuple[Any, list[tuple[Any, str]]]:
    """What `stream` holds next, and the S3 keys in it, each with the name of
    its object file: they get their bytes once the whole state is read
    (`saved_objects.attach`)."""
    _LOADED_KEYS.clear()
    try:
        return pickle.load(stream), list(_LOADED_KEYS)
    finally:
        _LOADED_KEYS.clear()
