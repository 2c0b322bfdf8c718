"""Gunzipped `r.rds` objects kept under the state folder, so a restart gunzips nothing.

Each `.gz` is gunzipped once into `<state>/objects/<digest>.rds`, where the
digest is the blake2b content digest of the `.gz` (data/digests.py), beside a
`<digest>.json` holding what S3 needs to serve it as a PUT would have (size,
MD5 for the ETag, CRC32 for boto3's default checksum). A `.gz` whose size,
mtime, ctime and inode are those recorded in `marks.json` is not even read
again: a restart with unchanged files costs a few stats.

Gunzipping runs in two threads, so it goes at zlib's own speed on two cores:
one reads and inflates, the other digests the `.gz` and writes the output (zlib
and hashlib release the GIL). The CRC32 comes from the gzip trailer; the MD5
(the ETag) is computed afterwards, off the load's path (`complete`), and kept
in the description: until then the engine computes an ETag when first asked.

Entries are written atomically (data/files.py): the data file first, then its
description, which records the data file's size, mtime and inode; an entry
whose data file does not match (truncated, edited, half-removed) is rebuilt.
The cache is bounded by INFRAMOCK_CACHE_LIMIT_MB: after a load the least
recently used entries go first, never one the running stack serves.
`make clean` removes it with the state folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import queue
import threading
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

from inframock.data.digests import new_hash
from inframock.core.files import atomic_file, write_atomically
from inframock.core.errors import InframockError

FOLDER = "objects"
MARKS = "marks.json"
READ_CHUNK = 4 * 1024 * 1024
INFLATE_CHUNK = 8 * 1024 * 1024
"""Largest piece inflated at once: memory stays bounded for a gzip bomb."""
QUEUE_DEPTH = 4


class GunzipError(InframockError):
    """A `.gz` that cannot be gunzipped; the message says why."""


class InflatesPastLimit(GunzipError):
    """A `.gz` that inflates past the limit it was given (a gzip bomb)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"inflates past {limit} bytes")
        self.limit = limit


@dataclasses.dataclass(frozen=True)
class Entry:
    """One gunzipped object in the cache."""

    digest: str
    """The content digest of the `.gz` it came from."""
    path: Path
    size: int
    md5: str | None
    """The MD5 of the content (the ETag); None until `complete` computed it."""
    crc32: int | None
    identity: tuple[int, int, int, int]
    """The `.gz`'s (size, mtime, ctime, inode) when it was read."""
    reused: bool
    """True when it was already in the cache (nothing was gunzipped)."""


class ObjectCache:
    """The cache folder of one state folder, shared by the loader's threads."""

    def __init__(self, state_dir: Path, limit: int) -> None:
        self.folder = state_dir / FOLDER
        self.limit = limit
        self._lock = threading.Lock()
        self._marks: dict[str, dict[str, Any]] = {}
        try:
            self._marks = json.loads((self.folder / MARKS).read_text())
        except (OSError, ValueError):
            pass

    def entry(
        self, gz: Path, limit: int, advance: Callable[[int], None] = lambda _: None
    ) -> Entry:
        """The cache entry of `gz`: found, or gunzipped into the cache now.

        `limit` is the largest gunzipped size accepted (a gzip bomb stops
        there); `advance` is told of each compressed chunk read.
        """
        with gz.open("rb") as stream:
            identity = _identity(os.fstat(stream.fileno()))
            if identity[0] == 0:
                raise GunzipError("empty file: not a gzip file")
            with self._lock:
                mark = self._marks.get(str(gz.resolve()))
            if mark is not None and tuple(mark["identity"]) == identity:
                found = self._valid(mark["digest"], identity)
                if found is not None:
                    advance(identity[0])
                    return found
            return self._fill(gz, stream, identity, limit, advance)

    def _valid(self, digest: str, identity: tuple[int, ...]) -> Entry | None:
        """The entry `digest` if its description and data file agree; else None."""
        data, about = self._paths(digest)
        try:
            described = json.loads(about.read_text())
            info = data.stat()
        except (OSError, ValueError):
            return None
        if described.get("data") != [info.st_size, info.st_mtime_ns, info.st_ino]:
            return None
        _touch(about)
        return Entry(
            digest,
            data,
            info.st_size,
            described.get("md5"),
            described.get("crc32"),
            tuple(identity),  # type: ignore[arg-type]
            reused=True,
        )

    def _paths(self, digest: str) -> tuple[Path, Path]:
        return self.folder / f"{digest}.rds", self.folder / f"{digest}.json"

    def _fill(  # pylint: disable=too-many-arguments,too-many-locals
        self,
        gz: Path,
        stream: BinaryIO,
        identity: tuple[int, int, int, int],
        limit: int,
        advance: Callable[[int], None],
    ) -> Entry:
        """Gunzip `stream` into a new entry; an existing one with the same
        digest (the same `.gz` elsewhere) is kept and reused."""
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f"{os.getpid()}-{threading.get_ident()}.partial"
        with atomic_file(staging) as out:
            digest, crc32, size = _gunzip(stream, out, limit, advance)
        data, about = self._paths(digest)
        existing = self._valid(digest, identity)
        if existing is not None:
            staging.unlink(missing_ok=True)
            self._remember(gz, identity, digest)
            return dataclasses.replace(existing, reused=False)
        os.replace(staging, data)
        info = data.stat()
        description = {
            "data": [info.st_size, info.st_mtime_ns, info.st_ino],
            "md5": None,
            "crc32": crc32,
            "source": gz.name,
        }
        write_atomically(about, json.dumps(description))
        self._remember(gz, identity, digest)
        return Entry(digest, data, size, None, crc32, identity, reused=False)

    def complete(self, entry: Entry) -> Entry:
        """`entry` with its MD5 (and CRC32), computed now if the description
        lacks them, and recorded there for every later start."""
        if entry.md5 is not None and entry.crc32 is not None:
            return entry
        md5, crc32 = describe(entry.path)
        about = self._paths(entry.digest)[1]
        try:
            described = json.loads(about.read_text())
        except (OSError, ValueError):
            return entry  # pruned or rebuilt meanwhile
        described.update(md5=md5, crc32=crc32)
        write_atomically(about, json.dumps(described))
        return dataclasses.replace(entry, md5=md5, crc32=crc32)

    def _remember(self, gz: Path, identity: tuple[int, ...], digest: str) -> None:
        with self._lock:
            self._marks[str(gz.resolve())] = {
                "identity": list(identity),
                "digest": digest,
            }

    def save(self) -> None:
        """Write the marks of the `.gz` files read (atomically)."""
        if not self.folder.is_dir():
            return
        with self._lock:
            marks = json.dumps(self._marks)
        write_atomically(self.folder / MARKS, marks)

    def entries(self) -> list[tuple[float, str, int]]:
        """(last used, digest, bytes) of every entry, least recently used first."""
        found = []
        for about in self.folder.glob("*.json"):
            if about.name == MARKS:
                continue
            data = about.with_suffix(".rds")
            try:
                found.append((about.stat().st_mtime, about.stem, data.stat().st_size))
            except OSError:
                continue
        return sorted(found)

    def disk_used(self) -> int:
        """Bytes the cache's files take."""
        total = 0
        for path in self.folder.glob("*"):
            try:
                total += path.stat().st_blocks * 512
            except OSError:
                continue
        return total

    def prune(self, keep: Iterable[str]) -> list[str]:
        """Remove least recently used entries until the cache fits its limit,
        never one in `keep` (the running stack serves it), and files no entry
        owns (a crash's leftovers); the digests removed."""
        keep = set(keep)
        entries = self.entries()
        total = sum(size for _, _, size in entries)
        removed = []
        for _, digest, size in entries:
            if total <= self.limit:
                break
            if digest in keep:
                continue
            for path in self._paths(digest)[::-1]:  # description first
                path.unlink(missing_ok=True)
            total -= size
            removed.append(digest)
        owned = {digest for _, digest, _ in entries if digest not in removed}
        for data in self.folder.glob("*.rds"):
            if data.stem not in owned:
                data.unlink(missing_ok=True)
        with self._lock:
            self._marks = {
                k: v for k, v in self._marks.items() if v["digest"] not in removed
            }
        return removed


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def _gunzip(
    stream: BinaryIO, out: BinaryIO, limit: int, advance: Callable[[int], None]
) -> tuple[str, int | None, int]:
    """Gunzip `stream` (every member) into `out`.

    This thread reads and inflates (as fast as zlib alone, on a free core); a
    second one digests the `.gz` and writes the output. Returns the `.gz`'s
    content digest, the output's CRC32 when the gzip trailer gives it (one
    member), and the output's size.
    """
    work: queue.Queue[tuple[bool, bytes] | None] = queue.Queue(QUEUE_DEPTH)
    done: dict[str, Any] = {}
    writer = threading.Thread(
        target=_write, args=(work, out, done), name="gunzip-writer", daemon=True
    )
    writer.start()
    try:
        crc32, size = _inflate(stream, work.put, limit, advance)
    finally:
        work.put(None)
        writer.join()
    if "error" in done:
        raise done["error"]
    return done["digest"], crc32, size


def _write(
    work: "queue.Queue[tuple[bool, bytes] | None]", out: BinaryIO, done: dict[str, Any]
) -> None:
    """The second thread: digest `.gz` chunks, write output pieces, until None."""
    digest = new_hash()
    failed = False
    while (item := work.get()) is not None:
        if failed:
            continue  # drain, so the inflating thread never blocks
        compressed, data = item
        try:
            if compressed:
                digest.update(data)
            else:
                out.write(data)
        except OSError as err:
            done["error"], failed = err, True
    done["digest"] = digest.hexdigest()


def _inflate(
    stream: BinaryIO,
    put: Callable[[tuple[bool, bytes]], None],
    limit: int,
    advance: Callable[[int], None],
) -> tuple[int | None, int]:
    """Read and inflate `stream`, handing both sides to `put`.

    Returns the CRC32 of a single-member gzip (from its trailer) or None, and
    the inflated size.
    """
    inflater = zlib.decompressobj(wbits=31)
    size, members = 0, 1
    pending, consumed = b"", b""
    trailer = b""
    while True:
        if not pending:
            pending = stream.read(READ_CHUNK)
            if not pending:
                break
            put((True, pending))
            advance(len(pending))
        if inflater.eof:  # a new member, or trailing zeros
            if not pending.strip(b"\x00"):
                pending = b""
                continue
            inflater, members = zlib.decompressobj(wbits=31), members + 1
        try:
            piece = inflater.decompress(pending, INFLATE_CHUNK)
        except zlib.error as err:
            raise GunzipError(f"not a valid gzip file: {err}") from None
        rest = inflater.unconsumed_tail or inflater.unused_data
        consumed = (consumed + pending[: len(pending) - len(rest)])[-8:]
        if inflater.eof and not trailer:
            trailer = consumed
        pending = rest
        size = _hand_on(piece, size, limit, put)
    if not inflater.eof:
        try:
            size = _hand_on(inflater.flush(), size, limit, put)
        except zlib.error as err:
            raise GunzipError(f"not a valid gzip file: {err}") from None
    if not inflater.eof:
        raise GunzipError("truncated gzip file: it ends before its end marker")
    if members > 1 or len(trailer) < 8:
        return None, size
    return int.from_bytes(trailer[:4], "little"), size


def _hand_on(
    piece: bytes, size: int, limit: int, put: Callable[[tuple[bool, bytes]], None]
) -> int:
    """Pass `piece` on; the size so far, which must stay within `limit`."""
    size += len(piece)
    if size > limit:
        raise InflatesPastLimit(limit)
    if piece:
        put((False, piece))
    return size


def describe(path: Path) -> tuple[str, int]:
    """The MD5 (hex) and CRC32 of a file, read in chunks."""
    md5 = hashlib.md5(usedforsecurity=False)
    crc32 = 0
    with path.open("rb") as stream:
        while chunk := stream.read(READ_CHUNK):
            md5.update(chunk)
            crc32 = zlib.crc32(chunk, crc32)
    return md5.hexdigest(), crc32
