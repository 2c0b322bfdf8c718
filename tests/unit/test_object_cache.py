"""The object cache: gunzipped once, found again by a stat, rebuilt when damaged,
pruned least recently used, and never half-written."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from pathlib import Path

import pytest

from inframock.data.digests import file_digest
from inframock.data.object_cache import (
    Entry,
    GunzipError,
    InflatesPastLimit,
    ObjectCache,
)
from inframock.testing.datafolder import payload

MB = 1024 * 1024
LIMIT = 64 * MB


def _gz(folder: Path, name: str, body: bytes) -> Path:
    path = folder / name
    path.write_bytes(gzip.compress(body, compresslevel=1))
    return path


def _cached_files(cache: ObjectCache) -> list[str]:
    return sorted(p.name for p in cache.folder.glob("*") if p.name != "marks.json")


def test_a_gz_is_gunzipped_into_the_cache_with_its_digests(tmp_path: Path) -> None:
    body = payload(5 * MB + 3, seed=1)
    gz = _gz(tmp_path, "r.rds.gz", body)
    read: list[int] = []
    entry = ObjectCache(tmp_path / "state", LIMIT).entry(gz, LIMIT, read.append)
    assert not entry.reused and sum(read) == gz.stat().st_size
    assert entry.path.read_bytes() == body and entry.size == len(body)
    assert entry.digest == file_digest(gz)
    assert entry.crc32 == zlib.crc32(body)
    assert entry.md5 is None  # computed afterwards, off the load's path
    done = ObjectCache(tmp_path / "state", LIMIT).complete(entry)
    assert done.md5 == hashlib.md5(body).hexdigest()
    described = json.loads(entry.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert described["md5"] == done.md5 and described["crc32"] == zlib.crc32(body)


class NeverGunzips(ObjectCache):
    """The cache, failing the test if it ever gunzips."""

    def _fill(self, *_: object) -> Entry:  # type: ignore[override]
        raise AssertionError("gunzipped again")


def test_an_unchanged_gz_is_found_without_gunzipping_it(tmp_path: Path) -> None:
    gz = _gz(tmp_path, "r.rds.gz", payload(MB, seed=2))
    first = ObjectCache(tmp_path / "state", LIMIT)
    made = first.complete(first.entry(gz, LIMIT))
    first.save()
    read: list[int] = []
    again = NeverGunzips(tmp_path / "state", LIMIT).entry(gz, LIMIT, read.append)
    assert again.reused and again.path == made.path and again.md5 == made.md5
    assert read == [gz.stat().st_size]  # progress completes at once


def test_a_touched_gz_is_found_by_its_digest_and_not_written_twice(
    tmp_path: Path,
) -> None:
    gz = _gz(tmp_path, "r.rds.gz", payload(MB, seed=3))
    cache = ObjectCache(tmp_path / "state", LIMIT)
    made = cache.entry(gz, LIMIT)
    inode = made.path.stat().st_ino
    os.utime(gz, (1, 1))
    again = cache.entry(gz, LIMIT)
    assert again.path == made.path and again.path.stat().st_ino == inode
    assert len(_cached_files(cache)) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda data, about: data.write_bytes(data.read_bytes()[:-1]),
        lambda data, about: data.unlink(),
        lambda data, about: about.write_text("{half"),
        lambda data, about: data.write_bytes(b"x" * data.stat().st_size),
    ],
    ids=["truncated", "data-missing", "description-corrupt", "overwritten"],
)
def test_a_damaged_entry_is_rebuilt(tmp_path: Path, damage: object) -> None:
    body = payload(MB, seed=4)
    gz = _gz(tmp_path, "r.rds.gz", body)
    cache = ObjectCache(tmp_path / "state", LIMIT)
    made = cache.entry(gz, LIMIT)
    cache.save()
    damage(made.path, made.path.with_suffix(".json"))  # type: ignore[operator]
    again = ObjectCache(tmp_path / "state", LIMIT).entry(gz, LIMIT)
    assert not again.reused and again.path.read_bytes() == body


def test_least_recently_used_entries_go_first_but_never_those_in_use(
    tmp_path: Path,
) -> None:
    cache = ObjectCache(tmp_path / "state", 3 * MB)
    entries = []
    for number in range(4):
        gz = _gz(tmp_path, f"{number}.rds.gz", payload(MB, seed=10 + number))
        entries.append(cache.entry(gz, LIMIT))
        about = entries[-1].path.with_suffix(".json")
        os.utime(about, (1000 + number, 1000 + number))
    os.utime(entries[0].path.with_suffix(".json"), (2000, 2000))  # used again
    removed = cache.prune(keep={entries[1].digest})
    assert removed == [entries[2].digest]
    left = {p.stem for p in cache.folder.glob("*.rds")}
    assert left == {entries[0].digest, entries[1].digest, entries[3].digest}
    everything_in_use = cache.prune(keep={e.digest for e in entries})
    assert not everything_in_use  # over the limit, but nothing may go


def test_a_crashs_leftovers_are_pruned(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "state", LIMIT)
    entry = cache.entry(_gz(tmp_path, "r.rds.gz", b"kept"), LIMIT)
    (cache.folder / "orphan.rds").write_bytes(b"x")
    cache.prune(keep=set())
    assert _cached_files(cache) == sorted([entry.path.name, f"{entry.digest}.json"])


def test_several_members_and_trailing_zeros_gunzip_like_gzip(tmp_path: Path) -> None:
    gz = tmp_path / "r.rds.gz"
    gz.write_bytes(gzip.compress(b"one ") + gzip.compress(b"two") + b"\0" * 8)
    cache = ObjectCache(tmp_path / "state", LIMIT)
    entry = cache.entry(gz, LIMIT)
    assert entry.path.read_bytes() == gzip.decompress(gz.read_bytes()) == b"one two"
    assert entry.crc32 is None  # no single trailer: computed afterwards
    assert cache.complete(entry).crc32 == zlib.crc32(b"one two")


@pytest.mark.parametrize(
    "content, error, message",
    [
        (b"", GunzipError, "empty file: not a gzip file"),
        (b"not gzip at all", GunzipError, "not a valid gzip file"),
        (gzip.compress(payload(MB, seed=5))[:-100], GunzipError, "truncated gzip"),
        (gzip.compress(b"\0" * (2 * MB)), InflatesPastLimit, "inflates past"),
    ],
    ids=["empty", "not-gzip", "truncated", "bomb"],
)
def test_a_bad_gz_is_an_error_and_leaves_nothing(
    tmp_path: Path, content: bytes, error: type, message: str
) -> None:
    gz = tmp_path / "r.rds.gz"
    gz.write_bytes(content)
    cache = ObjectCache(tmp_path / "state", LIMIT)
    with pytest.raises(error, match=message):
        cache.entry(gz, MB)
    assert not list(cache.folder.glob("*")) if cache.folder.exists() else True
