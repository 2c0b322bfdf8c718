"""Half a minute of Cellenics-like traffic against one stack, and what it measured.

The mix: workers long-polling the FIFO work queue, API-like senders (message
groups, content-based de-duplication, deliberate duplicates), a reader of a
50 MB S3 object, DynamoDB writes and reads, and Redis SETEX/GET/PUBLISH with a
subscriber. The AWS clients are threads (moto answers them one GIL at a time
anyway); Redis runs flat out in a process of its own, so its busy loop does
not slow the AWS clients' measurements through this process's GIL.

tests/lifecycle/test_soak.py asserts on the result; scripts/soak.py prints the figures
docs/survives.md quotes. Both run this code, so the figures are the tested ones.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import multiprocessing
import random
import threading
import time
from typing import Any, Callable, TypeVar

import boto3
import redis
from botocore.config import Config

from inframock.testing.datafolder import MB

T = TypeVar("T")

QUEUE = "development-queue.fifo"
BUCKET = "biomage-source-development"
OBJECT_KEY = "soak/r.rds"
TABLE = "experiments-development"
CHANNEL = "soak"
NO_RETRIES = Config(
    retries={"total_max_attempts": 1},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=4,
)
"""A failed request is an error to count, not something to retry away."""


STALLED = 30.0
"""Seconds without a delivery after which the soak gives up on the rest."""


@dataclasses.dataclass(frozen=True)
class SoakPlan:
    """How much load, for how long."""

    seconds: float = 30.0
    workers: int = 4
    senders: int = 2
    messages: int = 1000
    """Unique messages per sender."""
    duplicate_every: int = 20
    """Every n-th message is sent twice (same body) in one SendMessageBatch."""
    groups: int = 8
    """Message groups per sender."""
    object_bytes: int = 50 * MB
    object_every: float = 0.5
    """Seconds between the end of one S3 read of the object and the next."""

    @property
    def clients(self) -> dict[str, int]:
        """Concurrent clients by kind."""
        return {
            "sqs workers": self.workers,
            "sqs senders": self.senders,
            "s3 reader": 1,
            "dynamodb writer/reader": 1,
            "redis": 1,
        }


class Recorder:
    """Latencies per operation kind and every error, from any thread."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def call(self, kind: str, request: Callable[[], T], timed: bool = True) -> T | None:
        """Run `request`, timing it as `kind`; None (and an error noted) if it fails."""
        began = time.monotonic()
        try:
            result = request()
        except Exception as err:  # pylint: disable=broad-exception-caught
            self.error(f"{kind}: {err!r}")
            return None
        if timed:
            self.add(kind, time.monotonic() - began)
        return result

    def add(self, kind: str, seconds: float) -> None:
        """Note one latency."""
        with self._lock:
            self.latencies[kind].append(seconds)

    def error(self, what: str) -> None:
        """Note one error (a failed request or a wrong answer)."""
        with self._lock:
            self.errors.append(what[:300])


def percentiles(samples: list[float]) -> dict[str, float]:
    """Count, p50, p99 and max of `samples` (seconds), in milliseconds."""
    ordered = sorted(samples)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return {
        "count": len(ordered),
        "p50_ms": round(rank(0.50), 1),
        "p99_ms": round(rank(0.99), 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


class Soak:
    """One run of the plan against the stack at `endpoint` and `redis_port`."""

    def __init__(
        self, endpoint: str, redis_port: int, region: str, plan: SoakPlan
    ) -> None:
        self.endpoint = endpoint
        self.redis_port = redis_port
        self.region = region
        self.plan = plan
        self.record = Recorder()
        self.stop = threading.Event()
        self.deliveries: collections.Counter[str] = collections.Counter()
        self._delivered_lock = threading.Lock()
        self.blob = random.Random(7).randbytes(plan.object_bytes)
        self.queue_url = ""

    def client(self, service: str) -> Any:
        """A boto3 client of its own for one thread, with dummy credentials."""
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=NO_RETRIES,
        )

    def run(self) -> dict[str, Any]:
        """Prepare, run every client at once until all is delivered; the figures."""
        sqs = self.client("sqs")
        self.queue_url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
        self.client("s3").put_object(Bucket=BUCKET, Key=OBJECT_KEY, Body=self.blob)
        redis_client = RedisClientProcess(self.redis_port)
        began = time.monotonic()
        self._drive(began)
        elapsed = time.monotonic() - began
        redis_figures = redis_client.finish()
        for kind, samples in redis_figures.pop("latencies").items():
            for sample in samples:
                self.record.add(kind, sample)
        self.record.errors += redis_figures.pop("errors")
        left = sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return {
            "seconds": round(elapsed, 1),
            "clients": self.plan.clients,
            "messages": {
                "unique_sent": self.plan.senders * self.plan.messages,
                "duplicates_sent": self.plan.senders
                * (self.plan.messages // self.plan.duplicate_every),
                "delivered": len(self.deliveries),
                "delivered_more_than_once": sum(
                    1 for n in self.deliveries.values() if n > 1
                ),
                "left_in_queue": sum(int(v) for v in left.values()),
            },
            "redis": redis_figures,
            "operations": {
                kind: percentiles(samples)
                for kind, samples in sorted(self.record.latencies.items())
            },
            "errors": self.record.errors,
        }

    def _drive(self, began: float) -> None:
        """Run the AWS clients for the plan's time, and on until all is delivered.

        Bounded: the clients stop when nothing was delivered for STALLED
        seconds (a loaded machine is slow, not stuck), at the latest
        `10 × seconds + 30` after `began`; whatever is missing then shows in
        the figures.
        """
        senders = [
            threading.Thread(target=self.sender, args=(i, began), daemon=True)
            for i in range(self.plan.senders)
        ]
        others = [
            threading.Thread(target=self.worker, daemon=True)
            for _ in range(self.plan.workers)
        ]
        others += [
            threading.Thread(target=self.s3_reader, daemon=True),
            threading.Thread(target=self.dynamodb_writer_reader, daemon=True),
        ]
        for thread in senders + others:
            thread.start()
        last = began + 10 * self.plan.seconds + 30
        for thread in senders:
            thread.join(max(0.0, last - time.monotonic()))
        expected = self.plan.senders * self.plan.messages
        seen, progressed = -1, time.monotonic()
        while time.monotonic() < last and (
            time.monotonic() - began < self.plan.seconds
            or len(self.deliveries) < expected
        ):
            if len(self.deliveries) != seen:
                seen, progressed = len(self.deliveries), time.monotonic()
            elif time.monotonic() - progressed > STALLED:
                break
            time.sleep(0.1)
        self.stop.set()
        for thread in others:
            thread.join(90)

    def sender(self, index: int, began: float) -> None:
        """Like the API: SendMessage with a group; some bodies twice, in one batch."""
        sqs = self.client("sqs")
        spacing = 0.9 * self.plan.seconds / self.plan.messages
        for n in range(self.plan.messages):
            time.sleep(max(0.0, began + n * spacing - time.monotonic()))
            body = json.dumps(
                {"id": f"{index}-{n}", "sentAt": time.monotonic(), "pad": "w" * 200}
            )
            group = f"api-{index}-{n % self.plan.groups}"
            if n % self.plan.duplicate_every:
                self.record.call(
                    "sqs.send",
                    lambda b=body, g=group: sqs.send_message(
                        QueueUrl=self.queue_url, MessageBody=b, MessageGroupId=g
                    ),
                )
                continue
            # Same body, same group: content-based de-duplication must drop one.
            entries = [
                {"Id": name, "MessageBody": body, "MessageGroupId": group}
                for name in ("original", "duplicate")
            ]
            response = self.record.call(
                "sqs.send_batch",
                lambda e=entries: sqs.send_message_batch(
                    QueueUrl=self.queue_url, Entries=e
                ),
            )
            if response is not None and response.get("Failed"):
                self.record.error(f"sqs.send_batch: {response['Failed']}")

    def worker(self) -> None:
        """Like the Cellenics worker: long-poll, then delete what was received."""
        sqs = self.client("sqs")
        while not self.stop.is_set():
            began = time.monotonic()
            response = self.record.call(
                "sqs.receive",
                lambda: sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ),
                timed=False,  # an empty long poll lasts its wait, by design
            )
            messages = (response or {}).get("Messages", [])
            if not messages:
                continue
            received = time.monotonic()
            self.record.add("sqs.receive", received - began)
            with self._delivered_lock:
                for message in messages:
                    body = json.loads(message["Body"])
                    self.deliveries[body["id"]] += 1
                    self.record.add("sqs.send_to_receive", received - body["sentAt"])
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)
            ]
            deleted = self.record.call(
                "sqs.delete_batch",
                lambda e=entries: sqs.delete_message_batch(
                    QueueUrl=self.queue_url, Entries=e
                ),
            )
            if deleted is not None and deleted.get("Failed"):
                self.record.error(f"sqs.delete_batch: {deleted['Failed']}")

    def s3_reader(self) -> None:
        """Like workers loading experiments: the whole 50 MB object, twice a second.

        Not flat out: moto would then spend its one GIL copying 50 MB objects
        and every other client would measure that instead of its own calls.
        """
        s3 = self.client("s3")

        def read_whole_object() -> bytes:
            return bytes(s3.get_object(Bucket=BUCKET, Key=OBJECT_KEY)["Body"].read())

        while not self.stop.wait(self.plan.object_every):
            body = self.record.call("s3.get(50 MB)", read_whole_object)
            if body is not None and body != self.blob:
                self.record.error(f"s3.get: {len(body)} bytes differ from the object")

    def dynamodb_writer_reader(self) -> None:
        """Like the API: put an item, read it back consistently, over and over."""
        dynamodb = self.client("dynamodb")
        n = 0
        while not self.stop.is_set():
            key = {"experimentId": {"S": f"soak-{n % 100}"}}
            item = {**key, "version": {"N": str(n)}}
            self.record.call(
                "dynamodb.put",
                lambda i=item: dynamodb.put_item(TableName=TABLE, Item=i),
            )
            got = self.record.call(
                "dynamodb.get",
                lambda k=key: dynamodb.get_item(
                    TableName=TABLE, Key=k, ConsistentRead=True
                ),
            )
            if got is not None and got.get("Item") != item:
                self.record.error(f"dynamodb.get: {got.get('Item')} != {item}")
            n += 1


class RedisClientProcess:
    """The Redis traffic, flat out in a process of its own (see module docstring)."""

    def __init__(self, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._results: Any = context.Queue()
        self._process = context.Process(
            target=redis_load,
            args=(port, self._ready, self._stop, self._results),
            daemon=True,
        )
        self._process.start()
        if not self._ready.wait(30):
            self._process.kill()
            raise RuntimeError("the Redis client process did not start")

    def finish(self) -> dict[str, Any]:
        """Stop it; its latencies, errors and published and received counts."""
        self._stop.set()
        figures: dict[str, Any] = self._results.get(timeout=60)
        self._process.join(30)
        return figures


def redis_load(port: int, ready: Any, stop: Any, results: Any) -> None:
    """The Redis client process: signal `ready`, run until `stop`, put the figures."""
    traffic = RedisTraffic(port)
    ready.set()
    results.put(traffic.run(stop))


class RedisTraffic:
    """SETEX, GET and PUBLISH as fast as one client can, and a subscriber counting."""

    def __init__(self, port: int) -> None:
        self.record = Recorder()
        self.client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
        self.subscription = redis.Redis(
            host="127.0.0.1", port=port, socket_timeout=10
        ).pubsub()
        self.subscription.subscribe(CHANNEL)
        self.subscription.get_message(timeout=10)  # the subscribe confirmation
        self.published = 0
        self.received = 0
        self.done = threading.Event()

    def run(self, stop: Any) -> dict[str, Any]:
        """Until `stop` is set, then until the subscriber has had every message."""
        listener = threading.Thread(target=self._listen, daemon=True)
        listener.start()
        n = 0
        while not stop.is_set():
            self._once(n)
            n += 1
        self.done.set()
        listener.join(10)
        return {
            "latencies": dict(self.record.latencies),
            "errors": self.record.errors,
            "published": self.published,
            "received": self.received,
        }

    def _once(self, n: int) -> None:
        key, value = f"soak:{n % 1000}", str(n).encode()
        self.record.call("redis.setex", lambda: self.client.setex(key, 60, value))
        got = self.record.call("redis.get", lambda: self.client.get(key))
        if got != value:
            self.record.error(f"redis.get {key}: {got!r} != {value!r}")
        listeners = self.record.call(
            "redis.publish", lambda: self.client.publish(CHANNEL, value)
        )
        if listeners == 1:
            self.published += 1
        else:
            self.record.error(f"redis.publish reached {listeners} subscribers, not 1")

    def _listen(self) -> None:
        while not (self.done.is_set() and self.received >= self.published):
            if self.subscription.get_message(timeout=0.2):
                self.received += 1


def run_soak(
    endpoint: str, redis_port: int, region: str, plan: SoakPlan | None = None
) -> dict[str, Any]:
    """Soak the stack; the figures as a JSON-ready dict."""
    return Soak(endpoint, redis_port, region, plan or SoakPlan()).run()


def summary_line(figures: dict[str, Any]) -> str:
    """One line for people: clients, duration, messages, errors, p50/p99 per kind."""
    messages = figures["messages"]
    latencies = ", ".join(
        f"{kind} {o['p50_ms']:g}/{o['p99_ms']:g}"
        for kind, o in figures["operations"].items()
    )
    return (
        f"soak: {sum(figures['clients'].values())} clients for "
        f"{figures['seconds']:g} s; {messages['delivered']} of "
        f"{messages['unique_sent']} messages delivered, "
        f"{messages['delivered_more_than_once']} twice "
        f"({messages['duplicates_sent']} duplicates sent); redis "
        f"{figures['redis']['received']}/{figures['redis']['published']} "
        f"published received; {len(figures['errors'])} errors; "
        f"p50/p99 ms: {latencies}"
    )
