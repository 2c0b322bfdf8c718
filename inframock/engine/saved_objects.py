"""The object files of a saved state (INFRAMOCK_PERSIST): written, checked, cleaned.

An S3 object's bytes are not pickled with the engine's state but kept as a
file of their own under `<state>/objects/` (inframock.engine.persistence).
This module owns those files:

- a save writes each new one under a temporary name, renamed when whole
  (`Blobs`); a save that fails (a full disk) removes what it wrote, so it
  leaves neither `.partial` files nor objects no state refers to;
- a restore checks each object's file before the object serves it
  (`attach`): a file that is missing, or whose size is not the size the
  object was saved with, drops that object (as a DeleteObject of that version
  would), with one warning line naming bucket, key and why; the rest of the
  state is restored. Only the size is checked: a checksum would cost reading
  every byte at every start, which is what keeping the bytes out of the
  pickle saves;
- a restore removes what a save killed midway left (`remove_stale`).
"""

from __future__ import annotations

import io
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from inframock.engine.object_files import FileValue, backing_file

CHUNK = 8 * 1024 * 1024
PROGRESS_EVERY = 2.0
"""Seconds between progress lines of a long save."""
DISPOSED = ""
"""The file name of an object without bytes (moto disposed of its buffer)."""


def log(line: str) -> None:
    """One line on the engine's stderr (the stack relays it to its log)."""
    print(line, file=sys.stderr, flush=True)


class Blobs:
    """The object files of one save: those kept as they are, and new ones."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = set()
        self.written = 0
        self.linked = 0
        self._named: dict[int, str] = {}  # a save tried again writes a key once
        self._created: list[Path] = []
        self._last_progress = time.monotonic()
        folder.mkdir(parents=True, exist_ok=True)

    def keep(self, key: Any) -> str:
        """The name of a file holding `key`'s bytes, written if need be."""
        if id(key) in self._named:
            return self._named[id(key)]
        self._named[id(key)] = name = self._keep(key)
        return name

    def _keep(self, key: Any) -> str:
        source = backing_file(key)
        if source is not None and source.parent == self.folder:
            self.used.add(source.name)  # restored from a save: kept as it is
            return source.name
        name = uuid.uuid4().hex
        target = self.folder / name
        if source is not None:
            try:
                os.link(source, target)
                self._created.append(target)
                self.linked += 1
                self.used.add(name)
                return name
            except OSError:
                pass
        partial = self.folder / f".{name}.partial"
        self._created.append(partial)
        if not self._copy(key, partial):
            partial.unlink()
            return DISPOSED
        partial.rename(target)
        self._created.append(target)
        self.used.add(name)
        return name

    def _copy(self, key: Any, partial: Path) -> bool:
        """Write `key`'s bytes to `partial`; False for a disposed key (no bytes)."""
        buffer = key._value_buffer  # pylint: disable=protected-access
        with key.lock, partial.open("wb") as out:
            try:
                buffer.seek(0)
                while chunk := buffer.read(CHUNK):
                    out.write(chunk)
                    self.written += len(chunk)
                    self._progress()
            except ValueError:  # a disposed key's closed buffer
                return False
            out.flush()
            os.fsync(out.fileno())
        return True

    def _progress(self) -> None:
        if time.monotonic() - self._last_progress >= PROGRESS_EVERY:
            self._last_progress = time.monotonic()
            log(f"saving state: {self.written / 1e6:,.0f} MB of objects written")

    def discard(self) -> None:
        """Remove every file this save made: it failed, no state refers to them."""
        for path in self._created:
            path.unlink(missing_ok=True)

    def remove_unused(self) -> int:
        """Remove the files the state just saved does not refer to; how many."""
        removed = 0
        for path in self.folder.iterdir():
            if path.name not in self.used:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def attach(folder: Path, keys: list[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """Give each restored key (with the name of its file) its bytes; the keys
    whose file is missing or has another size, each with why."""
    damaged = []
    for key, name in keys:
        value: Any = io.BytesIO()
        if name == DISPOSED:
            value.close()
        else:
            try:
                value = FileValue(folder / name)
            except OSError as err:
                damaged.append((key, f"its file {folder / name}: {err.strerror}"))
            else:
                if value.size != key.contentsize:
                    damaged.append(
                        (
                            key,
                            f"its file {folder / name} holds {value.size:,} bytes, "
                            f"{key.contentsize:,} were saved",
                        )
                    )
        key._value_buffer = value  # pylint: disable=protected-access
    return damaged


def drop(s3_backends: Iterable[Any], damaged: list[tuple[Any, str]]) -> list[str]:
    """Remove the damaged keys from every bucket (and an unfinished multipart
    upload holding one as a part), each named in one warning line; their names."""
    gone = {id(key) for key, _ in damaged}
    for backend in s3_backends:
        for bucket in backend.buckets.values():
            for name, versions in list(bucket.keys.lists()):
                kept = [version for version in versions if id(version) not in gone]
                if not kept:
                    dict.__delitem__(bucket.keys, name)
                elif len(kept) < len(versions):
                    dict.__setitem__(bucket.keys, name, kept)
            for upload, multipart in list(bucket.multiparts.items()):
                if any(id(part) in gone for part in multipart.parts.values()):
                    del bucket.multiparts[upload]
    names = []
    for key, why in damaged:
        version = "" if key.version_id in (None, "null") else f" {key.version_id}"
        names.append(f"{key.bucket_name}/{key.name}{version}")
        log(
            f"warning: s3://{names[-1]} is not restored, {why}: the object is "
            "dropped, the rest of the state is restored"
        )
    return names


def remove_stale(folder: Path, objects: Path, used: set[str]) -> int:
    """Remove what a save killed midway left: its `.partial` files and the
    object files no saved state refers to; how many."""
    stale = list(folder.glob(".*.partial"))
    if objects.is_dir():
        stale += [path for path in objects.iterdir() if path.name not in used]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)
