"""S3 in a snapshot: every bucket (versioning, CORS), and every object version in it.

Each object version is streamed to a file of its own (bounded memory whatever
its size) and listed, oldest first per key, with its headers and metadata and
the delete markers between versions. Restoring replays that history in order,
so each key's versions come back in the same order with the same content;
S3 gives them new version ids.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from boto3.s3.transfer import TransferConfig

from inframock.aws.resources import bucket_cors
from inframock.aws.listings import bucket_names
from inframock.features.snapshot.format import (
    Connection,
    JsonLines,
    SnapshotError,
    checked_index,
    checked_lines,
    part_file,
    read_json,
    read_lines,
    require,
    write_json,
)

INDEX = "buckets.json"
MB = 1024 * 1024
CHUNK = MB
PROGRESS_ABOVE = 8 * MB
HEADERS = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
)
"""The object headers a snapshot keeps (with the user metadata)."""

TRANSFER = TransferConfig(multipart_threshold=5 * 1024 * MB, max_concurrency=4)
"""One PUT per version up to S3's 5 GB limit: the file streams, and the ETag
of an object first stored in one PUT stays the same."""


def save(conn: Connection, folder: Path) -> dict[str, int]:
    """Write every bucket's settings and every object version under `folder`."""
    s3 = conn.clients.s3
    names = bucket_names(conn.clients)
    total = sum(_version_bytes(conn, name) for name in names)
    buckets, versions = [], 0
    with _progress(conn, "snapshot: S3 objects", total) as advance:
        for name in names:
            location = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
            versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
            (folder / name).mkdir()
            with JsonLines(folder / f"{name}.jsonl") as out:
                for entry in _history(conn, name):
                    out.write(
                        _save_entry(conn, name, entry, folder, out.count, advance)
                    )
            versions += out.count
            buckets.append(
                {
                    "name": name,
                    "location": location,
                    "versioning": versioning,
                    "cors": bucket_cors(conn.clients, name),
                }
            )
    write_json(folder / INDEX, buckets)
    return {"bucket": len(buckets), "object version": versions, "byte": total}


def wipe(conn: Connection) -> None:
    """Delete every version and delete marker of every bucket, then the buckets."""
    s3 = conn.clients.s3
    for name in bucket_names(conn.clients):
        while True:  # the first page again each time: markers of deleted entries
            page = s3.list_object_versions(Bucket=name, MaxKeys=1000)
            entries = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if not entries:
                break
            s3.delete_objects(Bucket=name, Delete={"Objects": entries, "Quiet": True})
        s3.delete_bucket(Bucket=name)


def check(folder: Path) -> None:
    """SnapshotError, naming file and line, for anything `restore` could not use:
    each version's file must be in the snapshot, with the size it was saved with."""
    for number, bucket in enumerate(checked_index(folder, INDEX)):
        where = f"{folder.name}/{INDEX} bucket {number}"
        require(
            bucket,
            where,
            name=str,
            location=(str, type(None)),
            versioning=(str, type(None)),
            cors=(list, type(None)),
        )
        for line, version in checked_lines(folder, f"{bucket['name']}.jsonl"):
            if version.get("delete_marker") is True:
                require(version, line, key=str)
                continue
            require(version, line, key=str, file=str, size=int, headers=dict)
            require(version, line, metadata=dict)
            size = part_file(folder, version["file"]).stat().st_size
            if size != version["size"]:
                raise SnapshotError(
                    f"{folder.name}/{version['file']}: {size:,} bytes, but "
                    f"{line} says {version['size']:,}"
                )


def restore(conn: Connection, folder: Path) -> None:
    """Create the saved buckets and replay each key's history in order."""
    s3 = conn.clients.s3
    buckets = read_json(part_file(folder, INDEX))
    total = sum(
        line.get("size", 0)
        for bucket in buckets
        for line in read_lines(part_file(folder, f"{bucket['name']}.jsonl"))
    )
    with _progress(conn, "restore: S3 objects", total) as advance:
        for bucket in buckets:
            name = bucket["name"]
            options = {}
            if bucket["location"]:
                options["CreateBucketConfiguration"] = {
                    "LocationConstraint": bucket["location"]
                }
            s3.create_bucket(Bucket=name, **options)
            if bucket["versioning"]:  # Suspended too: versions need it on to land
                _set_versioning(conn, name, "Enabled")
            if bucket.get("cors"):  # snapshots from before CORS was kept have none
                s3.put_bucket_cors(
                    Bucket=name, CORSConfiguration={"CORSRules": bucket["cors"]}
                )
            for line in read_lines(part_file(folder, f"{name}.jsonl")):
                if line.get("delete_marker"):
                    s3.delete_object(Bucket=name, Key=line["key"])
                    continue
                s3.upload_file(
                    str(part_file(folder, line["file"])),
                    name,
                    line["key"],
                    ExtraArgs={**line["headers"], "Metadata": line["metadata"]},
                    Callback=advance,
                    Config=TRANSFER,
                )
            if bucket["versioning"] == "Suspended":
                _set_versioning(conn, name, "Suspended")


def _set_versioning(conn: Connection, bucket: str, status: str) -> None:
    conn.clients.s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": status}
    )


def _version_bytes(conn: Connection, bucket: str) -> int:
    pages = conn.clients.s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket
    )
    return sum(v["Size"] for page in pages for v in page.get("Versions", []))


def _history(conn: Connection, bucket: str) -> Iterator[dict[str, Any]]:
    """Every version and delete marker of `bucket`, each key's oldest first.

    Listings give each key's versions newest first, and its delete markers in a
    list of their own; a key whose history runs on to the next page is held
    back until that page, so only one key's history is ever in memory.
    """
    pending: dict[str, list[dict[str, Any]]] = {}
    for page in conn.clients.s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket
    ):
        for entry in page.get("Versions", []):
            pending.setdefault(entry["Key"], []).append(entry)
        for entry in page.get("DeleteMarkers", []):
            marker = {**entry, "DeleteMarker": True}
            pending.setdefault(entry["Key"], []).append(marker)
        held = page.get("NextKeyMarker") if page.get("IsTruncated") else None
        for key in [k for k in pending if k != held]:
            yield from reversed(_newest_first(pending.pop(key)))


def _newest_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One key's entries, newest first: the latest, then by time.

    Versions arrive newest first already; the sort (stable) only places delete
    markers, by their LastModified, which S3 gives to the second.
    """

    def order(entry: dict[str, Any]) -> tuple[bool, float]:
        modified: datetime = entry["LastModified"]
        return (not entry["IsLatest"], -modified.timestamp())

    return sorted(entries, key=order)


def _save_entry(
    conn: Connection,
    bucket: str,
    entry: dict[str, Any],
    folder: Path,
    number: int,
    advance: Callable[[int], None],
) -> dict[str, Any]:
    """Stream one version to its own file; its record (a delete marker: just that)."""
    if entry.get("DeleteMarker"):
        return {"key": entry["Key"], "delete_marker": True}
    response = conn.clients.s3.get_object(
        Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"]
    )
    file = f"{bucket}/{number}"
    with (folder / file).open("wb") as out:
        for chunk in response["Body"].iter_chunks(CHUNK):
            out.write(chunk)
            advance(len(chunk))
    return {
        "key": entry["Key"],
        "file": file,
        "size": response["ContentLength"],
        "etag": response["ETag"],
        "headers": {h: response[h] for h in HEADERS if response.get(h)},
        "metadata": response.get("Metadata", {}),
    }


@contextlib.contextmanager
def _progress(
    conn: Connection, label: str, total: int
) -> Iterator[Callable[[int], None]]:
    """Progress of `total` bytes, when they are many enough to be worth showing."""
    if total <= PROGRESS_ABOVE:
        yield lambda _: None
        return
    with conn.board.track(label, total, "") as advance:
        yield advance
