"""INFRAMOCK_PERSIST never loses data: faults around a save and a restore.

Real stacks on free ports. The supervisor killed (-9) while its services
save, so that their output has no reader; a state folder on a small tmpfs
that fills up during a save; object files of a saved state deleted or cut
short before a start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil
import psycopg
import pytest
from botocore.exceptions import ClientError

from inframock.engine import protocol
from inframock.engine.saved_objects import PROGRESS_EVERY
from inframock.testing.harness import ROOT, RunningStack, wait_until
from tests.helpers import engine_of, redis_of
from tests.lifecycle.test_persist import _same_stack as same_stack

pytestmark = pytest.mark.faults

BUCKET = "persisted-bucket"
TABLE = "persisted-table"
REGION = {"LocationConstraint": "eu-west-1"}
MB = 1_000_000


def _same_stack(stack: RunningStack) -> dict[str, str]:
    """The settings of another start on `stack`'s state (ports, folders)."""
    return same_stack(stack.env)


def _postgres(stack: RunningStack) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1",
        port=int(stack.env["INFRAMOCK_POSTGRES_PORT"]),
        user="postgres",
        dbname="aurora_db",
        autocommit=True,
    )


def _make_table(stack: RunningStack) -> None:
    ddb = stack.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=TABLE, Item={"id": {"S": "kept"}, "v": {"N": "1"}})


def _item(stack: RunningStack) -> dict[str, Any] | None:
    answer = stack.client("dynamodb").get_item(
        TableName=TABLE, Key={"id": {"S": "kept"}}
    )
    return answer.get("Item")


def _body(stack: RunningStack, key: str) -> bytes:
    return bytes(stack.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_save_outlives_a_killed_supervisor(
    make_stack: Callable[..., RunningStack],
) -> None:
    """`kill -9` of `make run`: the engine, Redis and PostgreSQL save with
    nobody reading their output (the engine's save pauses longer than
    PROGRESS_EVERY, writing progress lines into a pipe without a reader); the
    next start has everything."""
    pause = PROGRESS_EVERY * 2 + 1
    first = make_stack(
        INFRAMOCK_PERSIST="true",
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_ENGINE_SAVE_PAUSE=f"{pause:g}",
    ).wait_ready()
    first.redis().set("kept", "in redis")
    with _postgres(first) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('in postgres')")
    s3 = first.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    body = os.urandom(3 * MB)
    s3.put_object(Bucket=BUCKET, Key="big", Body=body)
    _make_table(first)
    wait_until(  # the engine has logged its last request: it is idle
        lambda: f"dynamodb PutItem {TABLE}" in first.output, 60, "the last log line"
    )
    services = first.processes()[1:]
    engine, redis = engine_of(first.processes()), redis_of(services)
    first.process.kill()
    first.wait_exit(timeout=30)
    engine.wait(timeout=120)  # the kernel's SIGTERM: it saves, then exits
    redis.wait(timeout=120)
    assert not psutil.wait_procs(services, timeout=120)[1], "every service exits"
    dump = Path(first.env["INFRAMOCK_STATE_DIR"]) / "redis" / "dump.rdb"
    assert dump.is_file(), "Redis wrote its dump with its output unread"
    kept = Path(first.env["INFRAMOCK_STATE_DIR"]) / "persist"
    assert (kept / protocol.STATE_FILE).is_file(), sorted(kept.rglob("*"))
    second = make_stack(**_same_stack(first)).wait_ready()
    assert "state restored" in second.output, second.output
    assert _body(second, "big") == body
    assert _item(second) == {"id": {"S": "kept"}, "v": {"N": "1"}}
    assert second.redis().get("kept") == b"in redis"
    with _postgres(second) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("in postgres",)]


@pytest.fixture(name="small_disk")
def small_disk_fixture(tmp_path: Path) -> Iterator[Path]:
    """A 20 MB tmpfs for the state folder: a disk that fills up."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(folder)], check=True
    )
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=False)


def _fill(folder: Path) -> Path:
    """A file taking every byte left in `folder`'s file system (down to the
    last one: what is left after whole megabytes still holds small files)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        chunk = MB
        while chunk:
            try:
                while True:
                    out.write(bytes(chunk))
            except OSError:
                chunk //= 16
    return filler


def _errors(stack: RunningStack) -> list[str]:
    return [line for line in stack.lines if "| error: " in line]


def test_a_full_disk_costs_neither_the_saved_state_nor_a_traceback(
    small_disk: Path, make_stack: Callable[..., RunningStack]
) -> None:
    """A save that does not fit removes what it wrote, the state saved before
    restores; a start on a full disk is one error line, and once there is room
    again the saved state is all there."""
    first = make_stack(INFRAMOCK_PERSIST="true", INFRAMOCK_STATE_DIR=str(small_disk))
    first.wait_ready()
    s3 = first.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    small = os.urandom(MB)
    s3.put_object(Bucket=BUCKET, Key="small", Body=small)
    _make_table(first)
    first.stop()
    assert "state saved" in first.output, first.output
    second = make_stack(**_same_stack(first)).wait_ready()
    second.client("s3").put_object(Bucket=BUCKET, Key="big", Body=os.urandom(30 * MB))
    second.stop()
    assert "error: the state could not be saved (No space left on device" in (
        second.output
    ), second.output
    assert not list(small_disk.rglob("*.partial")), list(small_disk.rglob("*"))
    assert "Traceback" not in second.output
    filler = _fill(small_disk)
    full = make_stack(**_same_stack(first))
    assert full.wait_exit(timeout=120) == 1, full.output
    assert "Traceback" not in full.output, full.output
    assert _errors(full) == [
        f"inframock | error: cannot write in {small_disk}: No space left on device "
        "(0.0 MB free); free some space there and start again (what was saved "
        "before is kept)"
    ], full.output
    filler.unlink()
    again = make_stack(**_same_stack(first)).wait_ready()
    assert _body(again, "small") == small
    assert _item(again) == {"id": {"S": "kept"}, "v": {"N": "1"}}
    with pytest.raises(ClientError) as missing:
        _body(again, "big")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_a_damaged_object_file_costs_only_its_object(
    make_stack: Callable[..., RunningStack],
) -> None:
    """Of three saved objects, one's file deleted and one's cut short: the
    start restores the third and the table, drops the two (NoSuchKey) and
    names each in one warning line; `status` says so too."""
    first = make_stack(INFRAMOCK_PERSIST="true").wait_ready()
    s3 = first.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    bodies = {key: os.urandom(200_000) for key in ("deleted", "cut-short", "intact")}
    for key, body in bodies.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    _make_table(first)
    first.stop()
    objects = Path(first.env["INFRAMOCK_STATE_DIR"]) / "persist" / "objects"
    files = {path.read_bytes(): path for path in objects.iterdir()}
    files[bodies["deleted"]].unlink()
    os.truncate(files[bodies["cut-short"]], 1000)
    second = make_stack(**_same_stack(first)).wait_ready()
    assert _body(second, "intact") == bodies["intact"]
    assert _item(second) == {"id": {"S": "kept"}, "v": {"N": "1"}}
    for key in ("deleted", "cut-short"):
        with pytest.raises(ClientError) as gone:
            _body(second, key)
        assert gone.value.response["Error"]["Code"] == "NoSuchKey", key
    warnings = sorted(line for line in second.lines if "warning: s3://" in line)
    assert len(warnings) == 2, second.output
    cut, deleted = warnings
    assert f"s3://{BUCKET}/deleted is not restored, its file" in deleted
    assert "No such file or directory" in deleted
    assert f"s3://{BUCKET}/cut-short is not restored, its file" in cut
    assert "holds 1,000 bytes, 200,000 were saved" in cut
    status = second.cli("status").stdout
    assert "2 damaged objects dropped" in status, status


CLOSED_PIPE_SCRIPT = """
import logging, sys
from pathlib import Path
from inframock.engine import unread_output
logging.basicConfig()  # a handler made before: bound to the stderr of then
sys.stdin.read()  # until the test has closed the pipe's reading end
unread_output.install()
print("x" * 100_000, flush=True)
logging.getLogger("made.before").error("a line nobody reads")
logging.getLogger("werkzeug").addHandler(logging.StreamHandler())
logging.getLogger("werkzeug").error("nor this one")
sys.stderr.write("nor this\\n")
Path(sys.argv[1]).write_text("went on")
"""


def test_the_engine_output_never_raises_without_a_reader(tmp_path: Path) -> None:
    """In a process whose stdout and stderr are a pipe nobody reads any more,
    print, sys.stderr and logging handlers (made before `install` and after)
    write without raising or complaining, and the process goes on to its end."""
    done = tmp_path / "done"
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", CLOSED_PIPE_SCRIPT, str(done)],
        cwd=str(ROOT),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None and process.stdin is not None
    process.stdout.close()
    process.stdin.close()
    assert process.wait(timeout=60) == 0
    assert done.read_text() == "went on"
