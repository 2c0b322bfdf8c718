"""What the engine and the stack's other processes agree on, and nothing else.

Two processes meet at the engine: the engine itself (`python -m
inframock.engine`: moto, inframock's changes, its saved state) and its
clients in the stack's other processes (the supervisor that starts it, the
loader, the banner, `make status`). They share no memory, only names: the
environment the engine is started with, the headers and paths of its own
endpoints, and the files of its saved state (INFRAMOCK_PERSIST), which the
client side reads to say what was restored. Those names, and the readers of
those files, are here; the engine's modules take them from here too, so the
two sides cannot drift apart.

This module imports the standard library only: the client side imports it,
and no other module of `inframock.engine`, so that reading a record of the
engine never imports moto or the engine (issue 20). Nothing else of this
package may be imported outside it, except by module name in the command
that starts the engine process (tests/unit/test_rules.py checks both).

The saved state (`<state>/persist`, written by inframock.engine.persistence):

- STATE_FILE: a pickled header (a dict: `format`, `moto`, `saved_at`,
  `counts`, `with`, `not_kept`), then the pickled backends; `saved_at` reads
  the header alone, which holds only built-in types;
- RESTORED_FILE: JSON written at every start, what the engine restored (or
  `restored: false`), with the engine's pid;
- OBJECTS: the object files (inframock.engine.saved_objects); LOCK_FILE: the
  lock a save holds.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

# -- Which engine ----------------------------------------------------------------

MINISTACK_RELEASE = "1.5.33"
"""The MiniStack release inframock's patches of it were checked against
(inframock.engine.ministack.patches), its pin in requirements-ministack.txt
and the tag of its image the Docker road runs."""

# -- The engine's environment, set by the stack that starts it ---------------

STATE_ENV = "INFRAMOCK_ENGINE_STATE"
"""The folder the engine saves its state in; unset: nothing is kept."""
WITH_ENV = "INFRAMOCK_ENGINE_STATE_WITH"
"""A file saved and restored with the state (the loader's record of loaded files)."""
SECRET_ENV = "INFRAMOCK_ENGINE_SECRET"
"""The stack's secret (inframock/core/stack_secret.py): its loader's proof."""
FILE_ROOTS_ENV = "INFRAMOCK_ENGINE_FILE_ROOTS"
"""Folders (os.pathsep between them) files may be registered from."""

# -- The engine's own endpoints ------------------------------------------------

SECRET_HEADER = "X-Inframock-Token"
"""Carries SECRET_ENV's value on the loader's requests (inframock.engine.guard)."""
OBJECTS_PATH = "/_inframock/objects"
"""Where the loader registers an S3 object whose bytes live in a file."""
OBJECTS_ANSWERED_BY = "X-Inframock-Objects"
"""On every answer of inframock's engine to OBJECTS_PATH; any other server (a
plain moto answers 500 or 404) is not one that can serve files."""

# -- The saved state's files ---------------------------------------------------

STATE_FILE = "engine.pickle"
RESTORED_FILE = "restored.json"
OBJECTS = "objects"
LOCK_FILE = "lock"


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


def describe(found: dict[str, int]) -> str:
    """`4 tables (14 items), 7 buckets (9 object versions, 12.6 MB), ...`:
    the `counts` of a saved state (inframock.engine.persistence.counts)."""
    return (
        f"{found['tables']} tables ({found['items']} items), "
        f"{found['buckets']} buckets ({found['object_versions']} object versions, "
        f"{found['bytes'] / 1e6:,.1f} MB), {found['queues']} queues "
        f"({found['messages']} messages), {found['topics']} topics "
        f"({found['subscriptions']} subscriptions)"
    )


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
