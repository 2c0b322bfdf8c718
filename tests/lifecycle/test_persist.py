"""INFRAMOCK_PERSIST: the whole state across restarts (inframock/engine/persistence.py).

Real stacks on free ports: state made through the public APIs, the stack
stopped (SIGTERM, Ctrl-C's SIGINT, `inframock stop`), started again with the
same state folder, and compared exactly. Plus the default (a clean start),
`clean-state`, a kill -9 during a save, and a tripwire for the moto internals
the engine's persistence relies on.
"""

from __future__ import annotations

import json
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import psutil
import pytest
from botocore.exceptions import ClientError

from inframock.engine import persistence, protocol

from inframock.testing.datafolder import (
    experiment_folder,
    payload,
    write_json,
    write_rds,
)
from inframock.testing.harness import RunningStack, base_env, cli, wait_until
from tests.helpers import engine_of

pytestmark = pytest.mark.slow

BUCKET = "persisted-bucket"
TABLE = "persisted-table"
QUEUE = "persisted-queue.fifo"
REGION = {"LocationConstraint": "eu-west-1"}


def _make_state(stack: RunningStack) -> dict[str, Any]:
    """Tables, object versions, messages (one in flight), a subscription, Redis
    keys with TTLs; returns what the messages and TTLs were."""
    ddb = stack.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "id", "KeyType": "HASH"},
            {"AttributeName": "n", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=TABLE,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
    )
    expires = str(int(time.time()) + 3600)
    for number in range(30):
        ddb.put_item(
            TableName=TABLE,
            Item={
                "id": {"S": f"item-{number % 3}"},
                "n": {"N": f"{number}.25"},
                "tags": {"SS": ["a", f"t{number}"]},
                "blob": {"B": bytes([number]) * 10},
                "nested": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}]}}},
                "expires": {"N": expires},
            },
        )
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    s3.put_bucket_versioning(
        Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    s3.put_bucket_cors(
        Bucket=BUCKET,
        CORSConfiguration={
            "CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]
        },
    )
    for version in range(3):
        s3.put_object(
            Bucket=BUCKET,
            Key="dir/r.rds",
            Body=bytes([version]) * (3_000_000 + version),
            Metadata={"version": str(version)},
            ContentType="application/octet-stream",
        )
    s3.put_object(Bucket=BUCKET, Key="gone", Body=b"deleted later")
    s3.delete_object(Bucket=BUCKET, Key="gone")
    sqs = stack.client("sqs")
    url = sqs.create_queue(
        QueueName=QUEUE,
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for number in range(4):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=f"message {number}",
            MessageGroupId=f"group-{number % 2}",
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": f"kind {number}"}
            },
        )
    in_flight = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)
    assert len(in_flight["Messages"]) >= 1
    sns = stack.client("sns")
    topic = sns.create_topic(Name="persisted-topic")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="http",
        Endpoint="http://127.0.0.1:9/v1/workResults",
        Attributes={"FilterPolicy": '{"type": ["WorkResponse"]}'},
    )
    client = stack.redis()
    client.set("plain", b"\x00bytes\xff")
    client.set("expiring", "soon", ex=1000)
    client.hset("hash", mapping={"a": "1", "b": "2"})
    client.rpush("list", "x", "y", "z")
    other = stack.redis()
    other.execute_command("SELECT", 3)
    other.set("in-db-3", "three")
    return {"url": url}


def _state(stack: RunningStack, url: str) -> dict[str, Any]:
    """Everything made by _make_state, as the APIs show it now."""
    ddb = stack.client("dynamodb")
    items = ddb.scan(TableName=TABLE)["Items"]
    s3 = stack.client("s3")
    listing = s3.list_object_versions(Bucket=BUCKET)
    versions = [
        (
            v["Key"],
            v["VersionId"],
            v["ETag"],
            v["Size"],
            v["IsLatest"],
            s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])[
                "Body"
            ].read(),
            s3.head_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])[
                "Metadata"
            ],
        )
        for v in listing["Versions"]
    ]
    markers = [(m["Key"], m["VersionId"]) for m in listing["DeleteMarkers"]]
    sqs = stack.client("sqs")
    sns = stack.client("sns")
    subscriptions = sns.list_subscriptions()["Subscriptions"]
    return {
        "tables": ddb.list_tables()["TableNames"],
        "ttl": ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"],
        "items": sorted(items, key=lambda i: (i["id"]["S"], i["n"]["N"])),
        "versions": versions,
        "markers": markers,
        "cors": s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"],
        "versioning": s3.get_bucket_versioning(Bucket=BUCKET)["Status"],
        "queue": sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["FifoQueue", "ContentBasedDeduplication"]
        )["Attributes"],
        "subscriptions": [
            (
                s["SubscriptionArn"],
                s["Endpoint"],
                sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])[
                    "Attributes"
                ].get("FilterPolicy"),
            )
            for s in subscriptions
        ],
    }


def _messages(stack: RunningStack, url: str) -> list[tuple[str, str, str]]:
    """Every message, received (all must be visible) and left in flight."""
    sqs = stack.client("sqs")
    found: list[tuple[str, str, str]] = []
    for _ in range(10):
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
            AttributeNames=["MessageGroupId"],
        )
        for message in answer.get("Messages", []):
            found.append(
                (
                    message["Body"],
                    message["Attributes"]["MessageGroupId"],
                    message["MessageAttributes"]["type"]["StringValue"],
                )
            )
        if not answer.get("Messages"):
            break
    return sorted(found)


def _redis(stack: RunningStack) -> dict[int, dict[bytes, tuple[bytes, int]]]:
    """Per database, each key's DUMP and its TTL in ms (-1: none)."""
    found: dict[int, dict[bytes, tuple[bytes, int]]] = {}
    for database in (0, 3):
        client = stack.redis()
        client.execute_command("SELECT", database)
        found[database] = {
            key: (client.dump(key), client.pttl(key)) for key in client.keys("*")
        }
    return found


def _restart(
    stack: RunningStack, make_stack: Callable[..., RunningStack], stop: str
) -> RunningStack:
    """Stop `stack` the way `stop` says, then start another on its state."""
    if stop == "SIGINT":
        stack.process.send_signal(signal.SIGINT)
        assert stack.wait_exit(timeout=120) == 0
    elif stop == "cli":
        assert stack.cli("stop").returncode == 0
        stack.wait_exit(timeout=120)
    else:
        stack.process.send_signal(signal.SIGTERM)
        stack.wait_exit(timeout=120)
    assert "state saved" in stack.output, stack.output
    return make_stack(
        Path(stack.env["BIOMAGE_DATA_PATH"]), **_same_stack(stack.env)
    ).wait_ready()


def _same_stack(env: dict[str, str]) -> dict[str, str]:
    return {
        k: env[k]
        for k in (
            "INFRAMOCK_AWS_PORT",
            "INFRAMOCK_REDIS_PORT",
            "INFRAMOCK_POSTGRES_PORT",
            "INFRAMOCK_STATE_DIR",
            "INFRAMOCK_PERSIST",
            "INFRAMOCK_PROFILE",
        )
        if k in env
    }


def test_persisted_state_comes_back_exactly(  # pylint: disable=too-many-locals
    make_stack: Callable[..., RunningStack],
) -> None:
    """Item for item, version for version byte for byte, messages (the one in
    flight visible again), subscriptions, Redis keys and TTLs within a second."""
    first = make_stack(INFRAMOCK_PERSIST="true").wait_ready()
    assert "nothing saved yet" in first.output
    url = _make_state(first)["url"]
    before = _state(first, url)
    redis_before = _redis(first)
    read_at = time.monotonic()
    second = _restart(first, make_stack, "SIGTERM")
    redis_after = _redis(second)
    elapsed_ms = (time.monotonic() - read_at) * 1000
    assert (
        "restored 1 tables (30 items)" in second.output or "restored" in second.output
    )
    assert _state(second, url) == before
    assert len(_messages(second, url)) == 4  # the in-flight one is visible again
    assert redis_after.keys() == redis_before.keys()
    for database, keys in redis_before.items():
        assert redis_after[database].keys() == keys.keys()
        for key, (dump, ttl) in keys.items():
            dumped, left = redis_after[database][key]
            assert dumped == dump, key
            if ttl < 0:
                assert left == ttl, key
            else:  # the time stopped counts, as in AWS and Redis: within a second
                assert abs((ttl - elapsed_ms) - left) < 1000, (key, ttl, left)
    status = second.cli("status")
    assert "state (INFRAMOCK_PERSIST): restored" in status.stdout, status.stdout


def test_each_way_of_stopping_saves(make_stack: Callable[..., RunningStack]) -> None:
    """SIGTERM, Ctrl-C (SIGINT to `make run`) and `inframock stop` all save."""
    stack = make_stack(INFRAMOCK_PERSIST="true").wait_ready()
    stack.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    for number, how in enumerate(("SIGTERM", "SIGINT", "cli")):
        stack.client("s3").put_object(Bucket=BUCKET, Key=how, Body=b"x" * number)
        stack = _restart(stack, make_stack, how)
        keys = [
            o["Key"]
            for o in stack.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
        ]
        assert keys == sorted(["SIGTERM", "SIGINT", "cli"][: number + 1]), how


def test_by_default_a_restart_starts_clean_and_clean_state_forgets(
    make_stack: Callable[..., RunningStack],
) -> None:
    """Without INFRAMOCK_PERSIST nothing is restored, even with a saved state
    present (which is left alone); clean-state is refused while the stack runs."""
    kept = make_stack(INFRAMOCK_PERSIST="true").wait_ready()
    kept.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    kept.redis().set("kept", "1")
    kept.stop()
    clean = make_stack(
        Path(kept.env["BIOMAGE_DATA_PATH"]),
        **{**_same_stack(kept.env), "INFRAMOCK_PERSIST": "false"},
    ).wait_ready()
    assert "started clean: the state saved" in clean.output
    names = [b["Name"] for b in clean.client("s3").list_buckets()["Buckets"]]
    assert BUCKET not in names
    assert clean.redis().get("kept") is None
    refused = clean.cli("clean-state")
    assert refused.returncode != 0
    assert "stop it first" in refused.stdout + refused.stderr
    clean.stop()
    forgotten = clean.cli("clean-state")
    assert forgotten.returncode == 0
    assert "the next start is clean" in forgotten.stdout
    again = make_stack(
        Path(kept.env["BIOMAGE_DATA_PATH"]), **_same_stack(kept.env)
    ).wait_ready()
    assert "nothing saved yet" in again.output
    names = [b["Name"] for b in again.client("s3").list_buckets()["Buckets"]]
    assert BUCKET not in names
    assert again.redis().get("kept") is None


def test_a_kill_during_a_save_leaves_the_previous_state(
    make_stack: Callable[..., RunningStack],
) -> None:
    """The engine is killed (-9) while a save is under way, after it wrote
    everything but before it committed: the next start restores the state the
    save before it left."""
    first = make_stack(INFRAMOCK_PERSIST="true").wait_ready()
    s3 = first.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    s3.put_object(Bucket=BUCKET, Key="saved", Body=b"saved before")
    env = _same_stack(first.env)
    first.stop()
    second = make_stack(
        Path(first.env["BIOMAGE_DATA_PATH"]),
        **env,
        INFRAMOCK_ENGINE_SAVE_PAUSE="60",
    ).wait_ready()
    second.client("s3").put_object(Bucket=BUCKET, Key="lost", Body=b"x" * 5_000_000)
    second.client("s3").put_object(Bucket=BUCKET, Key="saved", Body=b"overwritten")
    engine = engine_of(second.processes())
    second.process.send_signal(signal.SIGTERM)
    wait_until(
        lambda: "pausing 60 s before it is committed" in second.output,
        60,
        "the save to reach its pause",
    )
    engine.kill()
    second.wait_exit(timeout=30)
    third = make_stack(Path(first.env["BIOMAGE_DATA_PATH"]), **env).wait_ready()
    s3 = third.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["saved"]
    assert s3.get_object(Bucket=BUCKET, Key="saved")["Body"].read() == b"saved before"
    folder = Path(env["INFRAMOCK_STATE_DIR"]) / "persist"
    assert not list(folder.rglob(".*.partial")), "the start clears leftovers"
    assert len(list((folder / "objects").iterdir())) == 1, "and unused objects"
    third.stop()
    assert not list(folder.rglob(".*.partial"))
    assert len(list((folder / "objects").iterdir())) == 1


def test_a_restore_waits_for_a_save_still_under_way(
    make_stack: Callable[..., RunningStack],
) -> None:
    """A new engine reads the state only once the old one has committed it."""
    first = make_stack(INFRAMOCK_PERSIST="true", INFRAMOCK_ENGINE_SAVE_PAUSE="3")
    first.wait_ready()
    first.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    stopping = threading.Thread(target=first.stop)
    stopping.start()
    wait_until(lambda: "pausing 3 s" in first.output, 60, "the save to pause")
    stopping.join()
    second = make_stack(
        Path(first.env["BIOMAGE_DATA_PATH"]), **_same_stack(first.env)
    ).wait_ready()
    names = [b["Name"] for b in second.client("s3").list_buckets()["Buckets"]]
    assert BUCKET in names


def test_moto_still_has_what_persistence_relies_on() -> None:
    """Fails when a moto release changes an internal the engine's persistence
    reduces or reaches (the docstrings of inframock/engine/pickling.py and
    persistence.py)."""
    # pylint: disable=import-outside-toplevel,protected-access
    from moto.core.base_backend import AccountSpecificBackend, BackendDict
    from moto.s3.models import FakeKey
    from moto.s3.utils import _VersionedKeyStore
    from moto.sqs.models import Message, Queue

    assert isinstance(BackendDict._instances, list)
    assert issubclass(AccountSpecificBackend, dict)
    assert hasattr(BackendDict, "iter_backends")
    key = FakeKey("k", b"bytes", "000000000000", "eu-west-1")
    assert key._value_buffer.read() == b"" or key.value == b"bytes"
    assert isinstance(key.lock, type(threading.Lock()))
    assert key.contentsize == 5
    store = _VersionedKeyStore()
    store["k"] = 1
    store["k"] = 2
    # Why dicts of moto are pickled by their own entries: items() hides versions.
    assert list(store.items()) == [("k", 2)] and store.getlist("k") == [1, 2]
    message = Message("id", "body")
    assert message.visible_at == 0.0
    queue = Queue("q", "eu-west-1", "000000000000")
    assert isinstance(queue._messages_lock, threading.Condition)
    assert isinstance(queue._pending_messages, set)
    key.dispose()
    # What Step Functions and Lambda hold that pickle cannot take as it is.
    from moto.awslambda.models import LambdaStorage
    from moto.stepfunctions.models import StateMachine

    machine = StateMachine("arn", "m", "{}", "role", backend=None)  # type: ignore[arg-type]
    assert isinstance(machine.executions, list)
    storage = LambdaStorage("eu-west-1", "000000000000")
    assert type(storage._arns).__name__ == "WeakValueDictionary"
    assert storage._aliases.default_factory.__name__ == "<lambda>"  # type: ignore[union-attr]


STATE_MACHINE = "persisted-machine"
ACTIVITY = "persisted-activity"
ROLE = "arn:aws:iam::000000000000:role/persisted"


def _machine_state(sfn: Any, machine: dict[str, Any]) -> dict[str, Any]:
    """The state machine, its version and alias, tags and activities as listed
    (moto has no ListStateMachineVersions: the version is described)."""

    def described(answer: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in answer.items() if k != "ResponseMetadata"}

    arn = machine["stateMachineArn"]
    return {
        "machines": sfn.list_state_machines()["stateMachines"],
        "machine": described(sfn.describe_state_machine(stateMachineArn=arn)),
        "version": described(
            sfn.describe_state_machine(
                stateMachineArn=machine["stateMachineVersionArn"]
            )
        ),
        "alias": described(
            sfn.describe_state_machine_alias(stateMachineAliasArn=f"{arn}:live")
        ),
        "tags": sfn.list_tags_for_resource(resourceArn=arn)["tags"],
        "activities": sfn.list_activities()["activities"],
    }


def test_state_machines_and_activities_survive_a_restart_with_a_running_execution(
    make_stack: Callable[..., RunningStack],
) -> None:
    """Profile `current`: a running execution (waiting on its activity) is not
    kept, but it no longer costs the whole state: machines, activities, the
    launcher Lambdas and S3 come back, and the restored machine runs again."""
    first = make_stack(INFRAMOCK_PERSIST="true", INFRAMOCK_PROFILE="current")
    first.wait_ready()
    sfn = first.client("stepfunctions")
    activity = sfn.create_activity(name=ACTIVITY)["activityArn"]
    definition = json.dumps(
        {
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": activity, "End": True}},
        }
    )
    machine = sfn.create_state_machine(
        name=STATE_MACHINE,
        definition=definition,
        roleArn=ROLE,
        tags=[{"key": "sandbox", "value": "persisted"}],
        publish=True,
    )
    sfn.create_state_machine_alias(
        name="live",
        routingConfiguration=[
            {"stateMachineVersionArn": machine["stateMachineVersionArn"], "weight": 100}
        ],
    )
    running = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], input="{}"
    )["executionArn"]
    wait_until(
        lambda: "entered T" in first.output, 30, "the execution to wait on its task"
    )
    first.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    first.client("s3").put_object(Bucket=BUCKET, Key="kept", Body=b"kept bytes")
    before = _machine_state(sfn, machine)
    functions = first.client("lambda").list_functions()["Functions"]
    second = _restart(first, make_stack, "SIGTERM")
    assert "cannot be saved" not in first.output, first.output
    sfn = second.client("stepfunctions")
    assert _machine_state(sfn, machine) == before
    assert second.client("lambda").list_functions()["Functions"] == functions
    body = second.client("s3").get_object(Bucket=BUCKET, Key="kept")["Body"].read()
    assert body == b"kept bytes"
    with pytest.raises(ClientError) as gone:
        sfn.describe_execution(executionArn=running)
    assert gone.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
    again = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], input='{"n": 1}'
    )["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="stand-in")
    assert json.loads(task["input"]) == {"n": 1}
    sfn.send_task_success(taskToken=task["taskToken"], output='{"done": true}')
    wait_until(
        lambda: sfn.describe_execution(executionArn=again)["status"] == "SUCCEEDED",
        30,
        "the restored machine's new execution to succeed",
    )
    assert json.loads(sfn.describe_execution(executionArn=again)["output"]) == {
        "done": True
    }


class _Unpicklable:
    """What a moto release might hold that pickle cannot take."""

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle this on purpose")


def test_a_backend_that_cannot_be_pickled_costs_only_its_own_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process, on moto's own backends: SNS made unpicklable, SQS is saved."""
    # pylint: disable=import-outside-toplevel
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    sqs = sqs_backends["000000000000"]["eu-west-1"]
    sns = sns_backends["000000000000"]["eu-west-1"]
    sqs.create_queue("kept-queue")
    sns.inframock_test_unpicklable = _Unpicklable()
    try:
        persistence.save(tmp_path)
    finally:
        del sns.inframock_test_unpicklable
        sqs.delete_queue("kept-queue")
    logged = capsys.readouterr().err
    assert (
        "error: the state of sns (000000000000, eu-west-1) cannot be saved and is "
        "not kept (TypeError('cannot pickle this on purpose'))" in logged
    ), logged
    assert "state saved" in logged
    with (tmp_path / protocol.STATE_FILE).open("rb") as stream:
        header = pickle.load(stream)
        entries = pickle.load(stream)
    assert header["not_kept"] == ["sns (000000000000, eu-west-1)"]
    kept = {
        (module, account, region): backend
        for module, _, account, region, backend in entries
    }
    assert ("moto.sns.models", "000000000000", "eu-west-1") not in kept
    assert "kept-queue" in kept[("moto.sqs.models", "000000000000", "eu-west-1")].queues


def test_after_a_restore_the_data_folder_loads_only_what_changed(
    make_stack: Callable[..., RunningStack], tmp_path: Path
) -> None:
    """The loader's record comes back with the state: unchanged files are not
    loaded again (an item the services changed stays changed, the r.rds keeps
    one version), a new file is. Objects served from the loader's cache are
    linked into the saved state, not copied."""
    data = tmp_path / "data"
    folder = experiment_folder(data, "exp-1")
    write_json(folder, "mock_experiment.json", {"experimentId": "exp-1", "v": 1})
    write_rds(folder, payload(2_000_000))
    first = make_stack(data, INFRAMOCK_PERSIST="true").wait_ready()
    ddb = first.client("dynamodb")
    table = "experiments-development"
    ddb.update_item(
        TableName=table,
        Key={"experimentId": {"S": "exp-1"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    first.stop()
    assert "0 linked" not in first.output, first.output
    write_json(
        experiment_folder(data, "exp-2"),
        "mock_experiment.json",
        {"experimentId": "exp-2", "v": 1},
    )
    second = make_stack(data, **_same_stack(first.env)).wait_ready()
    assert "1 item, 0 B into S3, 0 errors; 2 unchanged files skipped" in second.output
    ddb = second.client("dynamodb")
    item = ddb.get_item(TableName=table, Key={"experimentId": {"S": "exp-1"}})
    assert item["Item"]["v"] == {"N": "2"}
    assert ddb.get_item(TableName=table, Key={"experimentId": {"S": "exp-2"}})["Item"]
    listing = second.client("s3").list_object_versions(
        Bucket="biomage-source-development", Prefix="exp-1/"
    )
    assert len(listing["Versions"]) == 1
    body = second.client("s3").get_object(
        Bucket="biomage-source-development", Key="exp-1/r.rds"
    )["Body"]
    assert body.read() == payload(2_000_000)


def test_the_docker_road_refuses_persist(tmp_path: Path) -> None:
    """The Docker road keeps no state: asking for it is a usage error, said
    before anything starts."""
    env = base_env(tmp_path, INFRAMOCK_RUNTIME="docker", INFRAMOCK_PERSIST="true")
    result = cli(env, "run", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "INFRAMOCK_PERSIST keeps the state of the embedded road only" in (
        result.stdout + result.stderr
    )


def test_a_state_that_cannot_be_read_stops_the_start_with_the_reason(
    make_stack: Callable[..., RunningStack], tmp_path: Path
) -> None:
    """A saved state this engine cannot read (another moto, a damaged file)
    is named, left alone, and the way to start clean is said."""
    state = tmp_path / "state" / "persist"
    state.mkdir(parents=True)
    (state / "engine.pickle").write_bytes(b"not a pickle")
    stack = make_stack(INFRAMOCK_PERSIST="true")
    assert stack.wait_exit(timeout=60) != 0
    assert f"{state / 'engine.pickle'}: cannot be read" in stack.output, stack.output
    assert "make clean-state" in stack.output
    assert (state / "engine.pickle").read_bytes() == b"not a pickle"


def test_a_kill_of_make_run_still_saves(
    make_stack: Callable[..., RunningStack],
) -> None:
    """`kill -9` of `make run`: its engine gets SIGTERM from the kernel (the
    parent-death signal) and saves before it exits."""
    first = make_stack(INFRAMOCK_PERSIST="true").wait_ready()
    first.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration=REGION)
    engine = engine_of(first.processes())
    first.process.kill()
    first.wait_exit(timeout=30)
    engine.wait(timeout=60)
    second = make_stack(
        Path(first.env["BIOMAGE_DATA_PATH"]), **_same_stack(first.env)
    ).wait_ready()
    names = [b["Name"] for b in second.client("s3").list_buckets()["Buckets"]]
    assert BUCKET in names


def test_redis_exits_when_its_save_fails_even_with_the_stack_gone(
    make_stack: Callable[..., RunningStack],
) -> None:
    """Redis saves on SIGTERM; a save that fails (its folder removed) must not
    keep it running: Valkey refuses to exit then unless told `force`, and with
    `make run` killed nobody would stop it (an orphan seen after a bench run)."""
    stack = make_stack(INFRAMOCK_PERSIST="true").wait_ready()
    stack.redis().set("kept", "1")
    redis = next(p for p in stack.processes() if "-server" in p.name())
    folder = Path(redis.cwd())
    assert folder == Path(stack.env["INFRAMOCK_STATE_DIR"]) / "redis"
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    stack.process.kill()  # the kernel sends Redis its parent-death signal
    stack.wait_exit(timeout=60)
    wait_until(
        lambda: not redis.is_running() or redis.status() == psutil.STATUS_ZOMBIE,
        60,
        "Redis to exit after its failed save",
    )
