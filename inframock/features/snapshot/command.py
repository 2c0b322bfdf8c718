"""`make snapshot` and `make restore`: the whole state of a running stack, on disk.

A snapshot talks to the stack only through its public APIs (boto3 and RESP),
so it works with any engine on either road. Each part (tables, objects,
queues, topics, redis) saves into a sub-folder of its own; the snapshot is
written into a hidden temporary folder and renamed into place only once it is
complete, with its manifest last, so a folder without a manifest is never a
snapshot.

Restoring replaces the stack's state with the snapshot's: every table,
bucket, queue, topic and Redis key there is removed first (including what `make
run` provisioned and loaded), then the snapshot's are created and filled.
A snapshot may come from someone else: before anything is removed, every file
is checked, streamed record by record, against what the manifest and the
records say (the sizes saved with them, the files they name, inside the
snapshot), and a damaged one is refused naming its file and line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import redis
from botocore.exceptions import BotoCoreError, ClientError

from inframock.core import console
from inframock.views import load as load_view
from inframock.core.progress import progress_board
from inframock.features.snapshot import objects as snapshot_objects
from inframock.features.snapshot import queues as snapshot_queues
from inframock.features.snapshot import redis_keys as snapshot_redis
from inframock.features.snapshot import tables as snapshot_tables
from inframock.features.snapshot import topics as snapshot_topics
from inframock.aws.clients import Clients
from inframock.aws.endpoint import check_endpoint_is_local
from inframock.core.probes import redis_ping, stack_is_reachable
from inframock.core.settings import Settings
from inframock.features.snapshot.format import (
    Connection,
    SnapshotError,
    part_file,
    require,
)

FORMAT = 1
MANIFEST = "manifest.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclasses.dataclass(frozen=True)
class Part:
    """One kind of state: its folder in a snapshot and how to save, wipe, restore it."""

    name: str
    save: Callable[[Connection, Path], dict[str, int]]
    check: Callable[[Path], None]
    wipe: Callable[[Connection], None]
    restore: Callable[[Connection, Path], None]


PARTS = tuple(
    Part(name, module.save, module.check, module.wipe, module.restore)
    for name, module in (
        ("tables", snapshot_tables),
        ("objects", snapshot_objects),
        ("queues", snapshot_queues),
        ("topics", snapshot_topics),  # after queues: SQS subscriptions need them
        ("redis", snapshot_redis),
    )
)


def save(settings: Settings, name: str) -> Path:
    """Save the running stack as snapshot `name`; the snapshot's folder."""
    final = _folder(settings, name)
    partial = final.with_name(f".{name}.partial-{os.getpid()}")
    started = time.monotonic()
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with _connection(settings) as conn:
            counts: dict[str, dict[str, int]] = {}
            for part in PARTS:
                (partial / part.name).mkdir()
                counts[part.name] = part.save(conn, partial / part.name)
        manifest = {
            "format": FORMAT,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "endpoint": settings.aws_endpoint,
            "region": settings.region,
            "counts": counts,
            "files": {part.name: _sizes(partial / part.name) for part in PARTS},
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _move_into_place(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    load_view.snapshot_summary(
        f"snapshot {name} saved in {final}", counts, _size(final), started
    )
    return final


def restore(settings: Settings, name: str) -> None:
    """Replace the running stack's state with snapshot `name`."""
    folder = _folder(settings, name)
    if not (folder / MANIFEST).exists():
        raise SnapshotError(
            f"no snapshot {name} in {settings.snapshot_dir} (no {MANIFEST})"
        )
    started = time.monotonic()
    try:
        manifest = _checked(folder)
    except SnapshotError as err:
        raise SnapshotError(
            f"snapshot {name} is damaged, the stack is unchanged: {err}"
        ) from None
    with _connection(settings) as conn:
        console.note(f"restoring {name}: removing the stack's current state")
        for part in reversed(PARTS):
            part.wipe(conn)
        for part in PARTS:
            part.restore(conn, folder / part.name)
    load_view.snapshot_summary(
        f"snapshot {name} restored into {settings.aws_endpoint} and "
        f"{settings.redis_url}",
        manifest["counts"],
        _size(folder),
        started,
    )


def _checked(folder: Path) -> dict[str, Any]:
    """The manifest of the snapshot in `folder`, once every part of it is checked.

    Snapshots saved before sizes were recorded (no "files") are checked all
    the same, record by record; only their files' sizes cannot be.
    """
    path = part_file(folder, MANIFEST)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise SnapshotError(f"{MANIFEST}: not JSON ({err})") from None
    require(manifest, MANIFEST, format=int, counts=dict)
    if manifest["format"] != FORMAT:
        raise SnapshotError(
            f"{MANIFEST}: format {manifest['format']}, this inframock reads {FORMAT}"
        )
    sizes = manifest.get("files", {})
    require(sizes, MANIFEST, **({p.name: dict for p in PARTS} if sizes else {}))
    for part in PARTS:
        for file, size in sizes.get(part.name, {}).items():
            actual = part_file(folder / part.name, file).stat().st_size
            if not isinstance(size, int) or actual != size:
                raise SnapshotError(
                    f"{part.name}/{file}: {actual:,} bytes, but {MANIFEST} "
                    f"says {size!r}"
                )
        part.check(folder / part.name)
    return manifest


def _sizes(folder: Path) -> dict[str, int]:
    """Every file under `folder` (by its path there) and its size, as saved."""
    return {
        file.relative_to(folder).as_posix(): file.stat().st_size
        for file in sorted(folder.rglob("*"))
        if file.is_file()
    }


def _folder(settings: Settings, name: str) -> Path:
    if not NAME.fullmatch(name):
        raise SnapshotError(
            f"{name!r} is not a snapshot name (letters, digits, '.', '-' and '_')"
        )
    return settings.snapshot_dir / name


@contextlib.contextmanager
def _connection(settings: Settings) -> Iterator[Connection]:
    """The stack's APIs and a progress board; their errors become SnapshotErrors.

    Local endpoints only, as for the loader: a snapshot changes queues too (it
    receives every message, raising their receive counts).
    """
    check_endpoint_is_local(settings.aws_endpoint, settings.allow_endpoint)
    if not stack_is_reachable(settings):
        raise SnapshotError(
            f"no inframock stack answers at {settings.aws_endpoint}: "
            "start one with `make run`"
        )
    if not redis_ping(settings.client_host, settings.redis_port):
        raise SnapshotError(f"Redis does not answer at {settings.redis_url}")
    clients = Clients(settings.aws_endpoint, settings.region, purpose="snapshot")
    try:
        # Always driven by a `with`, which runs this generator to its end.
        # pylint: disable-next=contextmanager-generator-missing-cleanup
        with progress_board() as board:
            yield Connection(clients, settings.client_host, settings.redis_port, board)
    except (BotoCoreError, ClientError, redis.RedisError, OSError) as err:
        raise SnapshotError(str(err)) from err


def _move_into_place(partial: Path, final: Path) -> None:
    """Rename the complete snapshot into place, replacing one of the same name."""
    if not final.exists():
        partial.rename(final)
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    final.rename(old)
    partial.rename(final)
    shutil.rmtree(old)
    console.note(f"replaced the previous snapshot {final.name}")


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
