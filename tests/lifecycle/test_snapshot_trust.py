"""`make restore` of a snapshot from someone else: a damaged one changes nothing.

One stack holds some state and is saved once; each case copies that
snapshot, damages one of its files, and restores it: the restore is refused
with one `error:` line naming the file (and the line), and every bucket,
table, queue and Redis key of the stack is still there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from inframock.testing.harness import RunningStack, base_env

pytestmark = pytest.mark.slow

SOURCE = "biomage-source-development"
EXPERIMENTS = "experiments-development"
SECRET = b"a file outside the snapshot, never to be read"


@pytest.fixture(scope="module", name="saved")
def saved_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningStack, Path]]:
    """A stack with state of every kind, and its folder of snapshots ("good")."""
    tmp = tmp_path_factory.mktemp("trust")
    snapshots = tmp / "snapshots"
    env = base_env(tmp, INFRAMOCK_SNAPSHOT_DIR=str(snapshots))
    Path(env["BIOMAGE_DATA_PATH"]).mkdir(parents=True, exist_ok=True)
    stack = RunningStack(env).wait_ready()
    stack.client("s3").put_object(Bucket=SOURCE, Key="exp/r.rds", Body=b"rds" * 100)
    ddb = stack.client("dynamodb")
    ddb.put_item(TableName=EXPERIMENTS, Item={"experimentId": {"S": "exp"}})
    sqs = stack.client("sqs")
    queue = sqs.create_queue(QueueName="trust-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="waiting")
    stack.redis().set("kept", "value")
    saved = stack.cli("snapshot", "good")
    assert saved.returncode == 0, saved.stdout
    yield stack, snapshots
    stack.stop()


def _state(stack: RunningStack) -> dict[str, Any]:
    s3, ddb = stack.client("s3"), stack.client("dynamodb")
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    return {
        "buckets": buckets,
        "objects": s3.list_objects_v2(Bucket=SOURCE).get("KeyCount"),
        "tables": ddb.list_tables()["TableNames"],
        "items": ddb.scan(TableName=EXPERIMENTS)["Count"],
        "queues": stack.client("sqs").list_queues().get("QueueUrls"),
        "keys": sorted(stack.redis().scan_iter()),
    }


def _garble_line(path: Path, number: int = 1) -> None:
    """Break line `number` of a JSON lines file in place (the size stays)."""
    lines = path.read_bytes().split(b"\n")
    line = lines[number - 1]
    lines[number - 1] = line[:-1] + b"\x7b"  # the closing brace becomes `{`
    path.write_bytes(b"\n".join(lines))


def _forget_sizes(snapshot: Path) -> None:
    """Make the snapshot one saved before sizes were recorded."""
    manifest = json.loads((snapshot / "manifest.json").read_text())
    manifest.pop("files", None)  # (on an old one: not there)
    (snapshot / "manifest.json").write_text(json.dumps(manifest))


def _object_record(snapshot: Path, **changes: Any) -> None:
    """Change the record of the stack's one saved r.rds."""
    path = snapshot / "objects" / f"{SOURCE}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        if record["key"] == "exp/r.rds":
            record.update(changes)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    _forget_sizes(snapshot)  # the records are what is checked here


def _outside(snapshot: Path) -> Path:
    secret = snapshot.parent.parent / "secret"
    secret.write_bytes(SECRET)
    return secret


def _rds_file(snapshot: Path) -> Path:
    path = snapshot / "objects" / f"{SOURCE}.jsonl"
    (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    return snapshot / "objects" / record["file"]


def _symlink_out(snapshot: Path) -> None:
    target = _outside(snapshot)
    file = _rds_file(snapshot)
    file.unlink()
    file.symlink_to(target)
    _forget_sizes(snapshot)


def _grow_object(snapshot: Path) -> None:
    with _rds_file(snapshot).open("ab") as out:
        out.write(b"more")
    _forget_sizes(snapshot)


def _truncate_table_file(snapshot: Path) -> None:
    """Lose the last line of a table file (each line still parses)."""
    path = snapshot / "tables" / f"{EXPERIMENTS}.jsonl"
    path.write_text("")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "tables-line": (
        lambda s: _garble_line(s / "tables" / f"{EXPERIMENTS}.jsonl"),
        f"tables/{EXPERIMENTS}.jsonl line 1: not JSON",
    ),
    "objects-line": (
        lambda s: _garble_line(s / "objects" / f"{SOURCE}.jsonl"),
        f"objects/{SOURCE}.jsonl line 1: not JSON",
    ),
    "queues-line": (
        lambda s: _garble_line(s / "queues" / "trust-queue.jsonl"),
        "queues/trust-queue.jsonl line 1: not JSON",
    ),
    "redis-line": (
        lambda s: _garble_line(s / "redis" / "db0.jsonl"),
        "redis/db0.jsonl line 1: not JSON",
    ),
    "topics-index": (
        lambda s: (s / "topics" / "topics.json").write_text("[{"),
        "topics/topics.json: ",
    ),
    "manifest": (
        lambda s: (s / "manifest.json").write_text('{"format": 1,'),
        "manifest.json: not JSON",
    ),
    "old-snapshot-line": (
        lambda s: (_forget_sizes(s), _garble_line(s / "redis" / "db0.jsonl")),
        "redis/db0.jsonl line 1: not JSON",
    ),
    "truncated": (
        _truncate_table_file,
        f"tables/{EXPERIMENTS}.jsonl: 0 bytes, but manifest.json says",
    ),
    "parent-path": (
        lambda s: _object_record(s, file="../../../secret"),
        "objects/../../../secret: names a file outside the snapshot folder",
    ),
    "etc-passwd": (
        lambda s: _object_record(s, file="../../etc/passwd"),
        "objects/../../etc/passwd: names a file outside the snapshot folder",
    ),
    "absolute-path": (
        lambda s: _object_record(s, file=str(_outside(s))),
        "names a file outside the snapshot folder",
    ),
    "symlink-out": (_symlink_out, "outside the snapshot"),
    "missing-object": (
        lambda s: _rds_file(s).unlink(),
        "missing from the snapshot",
    ),
    "wrong-size": (_grow_object, "304 bytes, but objects/"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_snapshot_is_refused_and_the_stack_keeps_its_state(
    saved: tuple[RunningStack, Path], case: str
) -> None:
    stack, snapshots = saved
    damage, message = DAMAGE[case]
    snapshot = snapshots / case
    shutil.copytree(snapshots / "good", snapshot, symlinks=True)
    damage(snapshot)
    before = _state(stack)
    result = stack.cli("restore", case, COLUMNS="1000")
    assert result.returncode == 1, result.stdout
    errors = [line for line in result.stdout.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stdout
    assert f"snapshot {case} is damaged, the stack is unchanged" in errors[0]
    assert message in errors[0], errors[0]
    assert "Traceback" not in result.stdout
    assert _state(stack) == before
    assert before["objects"] == 1 and before["items"] == 1
    assert before["keys"] == [b"kept"]
    assert SECRET.decode() not in result.stdout


def test_the_undamaged_snapshot_restores(saved: tuple[RunningStack, Path]) -> None:
    """The cases above fail for their damage alone: the copy they start from works."""
    stack, snapshots = saved
    shutil.copytree(snapshots / "good", snapshots / "copy")
    stack.redis().set("added", "after the snapshot")
    result = stack.cli("restore", "copy")
    assert result.returncode == 0, result.stdout
    assert sorted(stack.redis().scan_iter()) == [b"kept"]
