"""What each data file looked like when it was last loaded, so reloads skip it.

A reload loads only the files whose content changed since they were last loaded
into *this* stack. The record lives in the state folder, tagged with the stack's
identity (the endpoint and its queue's creation time), so it survives a reload
but not a restart: a new stack starts empty and gets everything.

A file is unchanged when its size, mtime, ctime and inode are those recorded
(ctime cannot be set back by tools, so no edit hides behind a restored mtime);
otherwise its content digest decides, so a `touch` costs a hash, not a load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import BinaryIO

from inframock.core.files import write_atomically

DIGEST_FILE = "loaded-files.json"
CHUNK = 1024 * 1024


def new_hash() -> "hashlib._Hash":
    """The content digest used for data files."""
    return hashlib.blake2b(digest_size=20)


def content_digest(data: bytes) -> str:
    """The content digest of bytes already in memory."""
    digest = new_hash()
    digest.update(data)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """The content digest of a whole file, read in chunks."""
    digest = new_hash()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class FileMark:
    """A file's identity on disk and the digest of the content that was loaded."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    digest: str

    @staticmethod
    def stat_of(stream: BinaryIO) -> tuple[int, int, int, int]:
        """(size, mtime, ctime, inode) of an open file, taken before reading it."""
        return _identity(os.fstat(stream.fileno()))


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


class Digests:
    """The marks of the files loaded into one stack, shared by the loader's threads."""

    def __init__(self, path: Path, stack_id: str) -> None:
        self.path = path
        self.stack_id = stack_id
        self._marks: dict[str, FileMark] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_stack(cls, state_dir: Path, stack_id: str, fresh: bool) -> "Digests":
        """The marks recorded for the stack `stack_id` (none after a restart).

        `fresh` ignores what was recorded: everything is loaded again.
        """
        digests = cls(state_dir / DIGEST_FILE, stack_id)
        if fresh:
            return digests
        try:
            saved = json.loads(digests.path.read_text())
            if saved.get("stack") == stack_id:
                digests._marks = {k: FileMark(**v) for k, v in saved["files"].items()}
        except (OSError, ValueError, TypeError, KeyError):
            pass
        return digests

    def unchanged(self, path: Path) -> bool:
        """True when `path` holds what was last loaded from it."""
        with self._lock:
            mark = self._marks.get(str(path.resolve()))
        if mark is None:
            return False
        try:
            identity = _identity(path.stat())
        except OSError:
            return False
        if identity == (mark.size, mark.mtime_ns, mark.ctime_ns, mark.inode):
            return True
        return identity[0] == mark.size and file_digest(path) == mark.digest

    def record(
        self, path: Path, identity: tuple[int, int, int, int], digest: str
    ) -> None:
        """Note that `path`, as it was at `identity`, was loaded whole."""
        with self._lock:
            self._marks[str(path.resolve())] = FileMark(*identity, digest)

    def forget(self, path: Path) -> None:
        """Make the next load of `path` happen whatever its content."""
        with self._lock:
            self._marks.pop(str(path.resolve()), None)

    def loaded(self) -> set[str]:
        """The content digests of the files loaded into this stack."""
        with self._lock:
            return {mark.digest for mark in self._marks.values()}

    def save(self) -> None:
        """Write the marks atomically."""
        with self._lock:
            files = {k: dataclasses.asdict(v) for k, v in self._marks.items()}
        write_atomically(
            self.path, json.dumps({"stack": self.stack_id, "files": files})
        )
