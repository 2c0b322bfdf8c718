"""Redis in a snapshot: every key of every database, with its time to live.

DUMP and RESTORE carry any type (strings, hashes, lists, sets, sorted sets,
streams) exactly, in Redis's own serialization. A key's TTL is saved as the
time it had left, and restored as that: the time between snapshot and restore
does not count against it. A dump restores into the same server version or a
newer one (DUMP output carries its RDB version).
"""

from __future__ import annotations

from pathlib import Path

from inframock.features.snapshot.format import (
    Connection,
    JsonLines,
    SnapshotError,
    batched,
    checked_base64,
    checked_index,
    checked_lines,
    from_text,
    part_file,
    read_json,
    read_lines,
    require,
    to_text,
    write_json,
)

INDEX = "databases.json"
BATCH = 500
NO_EXPIRY = -1
GONE = -2
"""PTTL's answers for a key without a TTL, and for a key that no longer exists."""


def save(conn: Connection, folder: Path) -> dict[str, int]:
    """Write every key (as DUMP, with its PTTL) of every non-empty database."""
    databases = sorted(int(name[2:]) for name in conn.redis().info("keyspace"))
    keys = 0
    for db in databases:
        client = conn.redis(db)
        with JsonLines(folder / f"db{db}.jsonl") as out:
            for batch in batched(client.scan_iter(count=BATCH), BATCH):
                pipe = client.pipeline(transaction=False)
                for key in batch:
                    pipe.dump(key)
                    pipe.pttl(key)
                answers = pipe.execute()
                for key, dump, pttl in zip(batch, answers[::2], answers[1::2]):
                    if dump is not None and pttl != GONE:  # expired meanwhile
                        out.write(
                            {"key": to_text(key), "pttl": pttl, "dump": to_text(dump)}
                        )
        keys += out.count
    write_json(folder / INDEX, databases)
    return {"Redis key": keys}


def wipe(conn: Connection) -> None:
    """Remove every key of every database."""
    conn.redis().flushall()


def check(folder: Path) -> None:
    """SnapshotError, naming file and line, for anything `restore` could not use."""
    for db in checked_index(folder, INDEX):
        if not isinstance(db, int) or isinstance(db, bool) or db < 0:
            raise SnapshotError(f"{folder.name}/{INDEX}: {db!r} is not a database")
        for line, key in checked_lines(folder, f"db{db}.jsonl"):
            require(key, line, key=str, pttl=int, dump=str)
            checked_base64(key["key"], line)
            checked_base64(key["dump"], line)


def restore(conn: Connection, folder: Path) -> None:
    """RESTORE every saved key with the time to live it had left."""
    for db in read_json(part_file(folder, INDEX)):
        client = conn.redis(db)
        for batch in batched(read_lines(part_file(folder, f"db{db}.jsonl")), BATCH):
            pipe = client.pipeline(transaction=False)
            for key in batch:
                # RESTORE's 0 means "no expiry": a key about to expire keeps 1 ms.
                ttl = 0 if key["pttl"] == NO_EXPIRY else max(1, key["pttl"])
                pipe.restore(
                    from_text(key["key"]), ttl, from_text(key["dump"]), replace=True
                )
            pipe.execute()
