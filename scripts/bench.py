"""`make bench`: inframock's speed, measured side by side with its ceilings.

Starts a real embedded stack on free ports, generates its own synthetic data,
and measures, in one run:

1. start-up of `make run` to ready (empty data folder, default experiment),
   median of N, and the idle memory of every process of the stack;
2. r.rds loading against a plain boto3 `upload_file` of the gunzipped file to
   the same endpoint and against `gzip -dc > /dev/null` of the same file;
3. DynamoDB loading against a sequential `put_item` loop and against the best
   concurrent `batch_write_item` rate the emulator gives; a Query and the
   PutItems of 2.5 MB of plots (nested lists of maps of numbers) against the
   same on a plain moto server;
4. `make reload-data` of many experiments: nothing changed, one file, all;
5. peak memory of the loader on two r.rds sizes (it must not grow with size);
6. restarts with 1 GB and 5 GB of unchanged r.rds (`--restart-gb`) against a
   restart with an empty data folder, the first load of each against
   `gzip -dc > /dev/null` and zlib alone, and the disk the cache takes;
7. restarts that restore 1 GB and 5 GB of generated state (INFRAMOCK_PERSIST,
   `--persist-gb`) against a clean start, and what saving that state costs;
8. the first `make run`'s set-up of `.venv` on a fresh copy of the checkout:
   uv with its package cache warm and cold, against plain pip (`--only-setup`);
9. the AWS engines side by side, moto and MiniStack (`--only-engines`,
   scripts/bench_engines.py): start-ups, memory, DynamoDB, SQS traffic.

Prints a table and writes the same figures as JSON. Every figure is a ratio of
things measured here, now, so it means the same on any machine.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config
import psutil
from rich.console import Console
from rich.table import Table

from inframock.data.default import write as write_default
from inframock.data.object_cache import FOLDER as CACHE_FOLDER, ObjectCache
from inframock.testing.checkout import setup_copy
from inframock.testing.harness import ROOT, RunningStack, base_env, standalone_moto

# scripts/ itself is on sys.path (this file runs as a script): its sibling.
from bench_engines import (  # pylint: disable=wrong-import-order
    EngineBench,
    engine_figures,
    engine_table,
)

MB = 1024 * 1024
RESTORED = re.compile(r"state restored in ([\d.]+) s")
LOADED = re.compile(r"loaded \d+ experiments?: .* \(([\d.]+) s\)")
console = Console(highlight=False)


class BenchStack(RunningStack):
    """`make run` in the background, as a user starts it, and timed `make` calls."""

    def __init__(
        self, work: Path, data: Path, timeout: float = 60, **overrides: str
    ) -> None:
        env = base_env(work, BIOMAGE_DATA_PATH=str(data), **overrides)
        super().__init__(env, ["make", "--no-print-directory", "-s", "run"])
        self.wait_ready(timeout)

    def make(self, *args: str, data: Path | None = None) -> float:
        """Seconds a `make <args>` took (it must succeed)."""
        env = dict(self.env)
        if data is not None:
            env["BIOMAGE_DATA_PATH"] = str(data)
        started = time.monotonic()
        subprocess.run(
            ["make", "--no-print-directory", "-s", *args],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.monotonic() - started

    def load_seconds(self, data: Path) -> float:
        """Seconds the loader reports for loading every file of `data` again.

        The loader's own figure, without the command's start-up, which the
        reload figures measure separately.
        """
        result = subprocess.run(
            [sys.executable, "-m", "inframock", "reload-data", "--all"],
            cwd=ROOT,
            env=dict(self.env, BIOMAGE_DATA_PATH=str(data)),
            check=True,
            capture_output=True,
            text=True,
        )
        return loaded_seconds(result.stdout)


def median_start(work: Path, data: Path, runs: int) -> tuple[float, list[float]]:
    """Median seconds from `make run` to ready, and every run's figure."""
    times = []
    for _ in range(runs):
        stack = BenchStack(work, data)
        times.append(stack.ready_after)
        stack.stop()
    return statistics.median(times), times


def write_rds(folder: Path, size: int) -> Path:
    """An `r.rds.gz` of `size` gunzipped bytes that compress like a real one (~3x)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(size)
    block = rng.randbytes(MB // 2) + bytes(MB // 2)  # half noise, half zeros
    path = folder / "r.rds.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        for _ in range(size // MB):
            out.write(block)
    return path


def timed(action: Callable[[], Any]) -> float:
    """Seconds `action` took."""
    started = time.monotonic()
    action()
    return time.monotonic() - started


def rds_figures(stack: BenchStack, work: Path, size_mb: int) -> dict[str, float]:
    """MB/s of inframock's r.rds load and of its two ceilings."""
    data = work / "rds-data"
    rds = write_rds(data / "big", size_mb * MB)
    plain = work / "r.rds"
    with gzip.open(rds, "rb") as source, plain.open("wb") as target:
        shutil.copyfileobj(source, target, 4 * MB)
    s3 = stack.client("s3")
    upload = timed(
        lambda: s3.upload_file(str(plain), "biomage-source-development", "plain")
    )
    gunzip = timed(lambda: gzip_dc(rds))
    shutil.rmtree(Path(stack.env["INFRAMOCK_STATE_DIR"]) / CACHE_FOLDER)
    load = stack.load_seconds(data)  # a first load: the cache is empty
    plain.unlink()
    return {
        "inframock_mb_s": size_mb / load,
        "upload_file_mb_s": size_mb / upload,
        "gunzip_mb_s": size_mb / gunzip,
    }


def gzip_dc(path: Path) -> None:
    """`gzip -dc path > /dev/null`: the machine's own gunzip."""
    subprocess.run(f"gzip -dc '{path}' > /dev/null", shell=True, check=True)


def zlib_alone(path: Path) -> None:
    """Inflate `path` with Python's zlib, output thrown away: the least a
    Python loader can do."""
    inflater = zlib.decompressobj(wbits=31)
    with path.open("rb") as stream:
        while chunk := stream.read(4 * MB):
            while chunk:
                inflater.decompress(chunk, 8 * MB)
                chunk = inflater.unconsumed_tail


def restart_figures(  # pylint: disable=too-many-locals
    work: Path, sizes_gb: list[float], runs: int
) -> dict[str, Any]:
    """Ready after a restart with unchanged r.rds of each size, against an
    empty data folder (median of `runs` each, side by side); each size's first
    load against gzip -dc and zlib alone; the disk the cache takes."""
    state = work / "state"
    empty = work / "empty"
    figures: dict[str, Any] = {"sizes": {}}
    datas = {}
    for size in sizes_gb:
        data = work / f"restart-{size:g}gb"
        rds = write_rds(data / "big", int(size * 1024) * MB)  # new: not cached
        stack = BenchStack(work, data, timeout=1800)  # a first load of GBs
        first = loaded_seconds(stack.output)
        wait_for_md5(state)  # as a stack left running a few seconds does
        stack.stop()
        mb = size * 1024
        figures["sizes"][f"{size:g}"] = {
            "first_load_mb_s": mb / first,
            "gzip_dc_mb_s": mb / timed(functools.partial(gzip_dc, rds)),
            "zlib_mb_s": mb / timed(functools.partial(zlib_alone, rds)),
        }
        datas[size] = data
    for _ in range(runs):  # interleaved, so load on the machine hits all alike
        for name, data in [("empty", empty), *datas.items()]:
            into = figures if name == "empty" else figures["sizes"][f"{name:g}"]
            seconds, load = ready(work, data)
            into.setdefault("runs_s", []).append(seconds)
            into.setdefault("load_runs_s", []).append(load)
    for into in [figures, *figures["sizes"].values()]:
        into["median_s"] = statistics.median(into["runs_s"])
        into["load_median_s"] = statistics.median(into["load_runs_s"])
    figures["empty_median_s"] = figures["median_s"]
    figures["cache_disk_mb"] = ObjectCache(state, 0).disk_used() / MB
    figures["data_gz_mb"] = (
        sum(f.stat().st_size for d in datas.values() for f in d.rglob("*.gz")) / MB
    )
    for data in datas.values():
        shutil.rmtree(data)
    return figures


PERSIST_OBJECT_MB = 256
"""Generated state is PUT as objects of this size (as services write results)."""


def persisted_figures(work: Path, sizes_gb: list[float], runs: int) -> dict[str, Any]:
    """Ready after a restart that restores N GB of generated state
    (INFRAMOCK_PERSIST), against a clean start with an empty data folder,
    interleaved (median of `runs` each); and the first save's seconds."""
    empty = work / "empty"
    figures: dict[str, Any] = {"sizes": {}}
    for size in sizes_gb:
        place = work / f"persist-{size:g}gb"
        stack = BenchStack(place, empty, INFRAMOCK_PERSIST="true")
        s3 = stack.client("s3")
        s3.create_bucket(
            Bucket="generated-state",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
        block = random.Random(size).randbytes(MB) * PERSIST_OBJECT_MB
        for number in range(max(1, int(size * 1024) // PERSIST_OBJECT_MB)):
            s3.put_object(Bucket="generated-state", Key=f"r{number}.rds", Body=block)
        first_save = saved(stack)
        figures["sizes"][f"{size:g}"] = {"first_save_s": first_save, "runs_s": []}
    for _ in range(runs):  # interleaved, so load on the machine hits all alike
        figures.setdefault("empty_runs_s", []).append(ready(work, empty)[0])
        for size in sizes_gb:
            stack = BenchStack(
                work / f"persist-{size:g}gb", empty, INFRAMOCK_PERSIST="true"
            )
            entry = figures["sizes"][f"{size:g}"]
            entry.setdefault("later_save_s", []).append(saved(stack))
            entry["runs_s"].append(stack.ready_after)
            restored = RESTORED.search(stack.output)
            assert restored is not None, stack.output
            entry.setdefault("restore_s", []).append(float(restored.group(1)))
    figures["empty_median_s"] = statistics.median(figures["empty_runs_s"])
    for size in sizes_gb:
        entry = figures["sizes"][f"{size:g}"]
        entry["median_s"] = statistics.median(entry["runs_s"])
        entry["later_save_median_s"] = statistics.median(entry["later_save_s"])
        entry["restore_median_s"] = statistics.median(entry["restore_s"])
        shutil.rmtree(work / f"persist-{size:g}gb")
    return figures


def saved(stack: BenchStack) -> float:
    """Stop a stack that keeps its state: seconds until it has saved and exited."""
    stopping = time.monotonic()
    stack.process.send_signal(signal.SIGTERM)
    stack.wait_exit(timeout=3600)
    return time.monotonic() - stopping


def only_persisted(work: Path, sizes_gb: list[float], runs: int, out: Path) -> None:
    """`--only-persist`: the persisted-restart figures alone, printed and written."""
    figures = persisted_figures(work, sizes_gb, runs)
    for row in persisted_rows(figures):
        console.print("  ".join(row))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"persisted": figures}, indent=2))


def persisted_rows(persisted: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows of the persisted-restart figures."""
    empty = persisted["empty_median_s"]
    rows = [("clean start, empty data (median)", f"{empty:.2f} s", "")]
    for size, figures in persisted["sizes"].items():
        rows += [
            (
                f"persisted restart, {size} GB generated",
                f"{figures['median_s']:.2f} s ({figures['median_s'] - empty:+.2f} s)",
                "≤ +1.0 s",
            ),
            (
                "  of which the engine's restore",
                f"{figures['restore_median_s']:.2f} s",
                "",
            ),
            (
                "  first save / later saves",
                f"{figures['first_save_s']:.1f} s / "
                f"{figures['later_save_median_s']:.2f} s",
                "",
            ),
        ]
    return rows


def ready(work: Path, data: Path) -> tuple[float, float]:
    """Seconds from `make run` to ready, and the load's own seconds (the part
    the data folder costs, without the machine's noise in start-up)."""
    stack = BenchStack(work, data)
    stack.stop()
    assert stack.ready_after is not None
    return stack.ready_after, loaded_seconds(stack.output)


def loaded_seconds(output: str) -> float:
    """The load's own seconds, from its summary line."""
    match = LOADED.search(output)
    if match is None:
        raise RuntimeError(f"no load summary in:\n{output}")
    return float(match.group(1))


def wait_for_md5(state: Path, timeout: float = 600) -> None:
    """Wait until every cache entry has its MD5 (computed after the load)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = [
            json.loads(p.read_text())
            for p in (state / CACHE_FOLDER).glob("*.json")
            if p.name != "marks.json"
        ]
        if all(d.get("md5") for d in described):
            return
        time.sleep(0.2)
    raise RuntimeError("the cache entries got no MD5")


def plot_records(experiment: str, count: int) -> dict[str, Any]:
    """`count` plots-tables records of about 300 bytes each."""
    return {
        "records": [
            {
                "experimentId": experiment,
                "plotUuid": f"plot-{i:06d}",
                "plotType": "histogram",
                "config": {"binStep": 200, "title": "x" * 100},
                "plotData": [i, i + 1, i + 2],
            }
            for i in range(count)
        ]
    }


def dynamodb_figures(stack: BenchStack, work: Path, count: int) -> dict[str, float]:
    """Items/s of inframock, a put_item loop and the best batch_write_item rate."""
    data = work / "ddb-data"
    folder = data / "items"
    folder.mkdir(parents=True)
    (folder / "mock_plots_tables.json").write_text(
        json.dumps(plot_records("items", count))
    )
    ddb = stack.client("dynamodb")
    serialize = TypeSerializer().serialize
    items = [
        {k: serialize(v) for k, v in record.items()}
        for record in plot_records("loop", count)["records"]
    ]
    sample = items[: max(1, count // 10)]
    loop_table = fresh_table(ddb, "bench-loop")
    loop = timed(lambda: [ddb.put_item(TableName=loop_table, Item=i) for i in sample])
    best = max(batch_rate(ddb, items, workers) for workers in (1, 2, 4, 8))
    load = stack.load_seconds(data)
    return {
        "inframock_items_s": count / load,
        "put_item_loop_items_s": len(sample) / loop,
        "best_batch_items_s": best,
    }


def big_plots(count: int = 11, points: int = 2900) -> list[dict[str, Any]]:
    """`count` embedding plots of `points` points each (about 2.5 MB), as
    DynamoDB items: the nested lists of maps of numbers the API stores."""
    rng = random.Random(2021)
    return [
        {
            "experimentId": {"S": "big"},
            "plotUuid": {"S": f"plot-{n:04d}"},
            "plotData": {
                "L": [
                    {
                        "M": {
                            "x": {"N": f"{rng.uniform(-30, 30):.6f}"},
                            "y": {"N": f"{rng.uniform(-30, 30):.6f}"},
                            "cellId": {"N": str(rng.randrange(100_000))},
                            "cluster": {"S": f"Cluster {rng.randrange(20)}"},
                        }
                    }
                    for _ in range(points)
                ]
            },
        }
        for n in range(count)
    ]


def plots_query_seconds(endpoint: str) -> tuple[float, float, int]:
    """Seconds of the PutItems of `big_plots` and of one Query of all of them
    on `endpoint`, and the bytes of the Query's response."""
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(read_timeout=900, retries={"max_attempts": 1}),
    )
    table = fresh_table(ddb, "bench-big-plots")
    plots = big_plots()
    put = timed(lambda: [ddb.put_item(TableName=table, Item=p) for p in plots])
    sizes: list[int] = []
    ddb.meta.events.register(
        "before-parse.*.Query",
        lambda response_dict, **_: sizes.append(len(response_dict["body"])),
    )
    query = timed(
        lambda: ddb.query(
            TableName=table,
            KeyConditionExpression="experimentId = :e",
            ExpressionAttributeValues={":e": {"S": "big"}},
        )
    )
    return put, query, sizes[0]


def plots_query_figures(stack: BenchStack) -> dict[str, float]:
    """Seconds to write and to Query 2.5 MB of plots, inframock against a
    plain moto server started beside it."""
    put, query, size = plots_query_seconds(stack.endpoint)
    with standalone_moto() as plain:
        moto_put, moto_query, _ = plots_query_seconds(plain)
    return {
        "response_mb": size / MB,
        "inframock_put_s": put,
        "moto_put_s": moto_put,
        "inframock_query_s": query,
        "moto_query_s": moto_query,
    }


def fresh_table(ddb: Any, name: str) -> str:
    """An empty table shaped like plots-tables, so every rate starts equal."""
    keys = (("experimentId", "HASH"), ("plotUuid", "RANGE"))
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": n, "KeyType": k} for n, k in keys],
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n, _ in keys
        ],
    )
    return name


def batch_rate(ddb: Any, items: list[dict[str, Any]], workers: int) -> float:
    """Items/s of `batch_write_item` in batches of 25 from `workers` threads."""
    table = fresh_table(ddb, f"bench-batch-{workers}")
    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]

    def write(batch: list[dict[str, Any]]) -> None:
        pending = {table: [{"PutRequest": {"Item": i}} for i in batch]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems")

    with ThreadPoolExecutor(workers) as pool:
        seconds = timed(lambda: list(pool.map(write, chunks)))
    return len(items) / seconds


def sqs_figures(stack: BenchStack, depth: int) -> dict[str, float]:
    """Milliseconds of a SendMessage and of a ReceiveMessage of ten, on a queue
    with a few messages and on one with `depth` more waiting (the API sending
    work while no worker drains the queue)."""
    sqs = stack.client("sqs")

    def per_call(url: str) -> tuple[float, float]:
        send = statistics.median(
            timed(lambda: sqs.send_message(QueueUrl=url, MessageBody="m"))
            for _ in range(20)
        )
        receive = statistics.median(
            timed(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10))
            for _ in range(3)
        )
        return send * 1000, receive * 1000

    few = sqs.create_queue(QueueName="bench-few")["QueueUrl"]
    deep = sqs.create_queue(QueueName="bench-deep")["QueueUrl"]
    for _ in range(0, depth, 10):
        sqs.send_message_batch(
            QueueUrl=deep,
            Entries=[{"Id": str(n), "MessageBody": "m"} for n in range(10)],
        )
    few_send, few_receive = per_call(few)
    deep_send, deep_receive = per_call(deep)
    return {
        "depth": depth,
        "few_send_ms": few_send,
        "few_receive_ms": few_receive,
        "deep_send_ms": deep_send,
        "deep_receive_ms": deep_receive,
    }


def reload_figures(stack: BenchStack, work: Path, experiments: int) -> dict[str, float]:
    """Seconds of `make reload-data`: nothing changed, one file changed, all changed."""
    data = work / "many"
    for i in range(experiments):
        folder = data / f"exp-{i:03d}"
        folder.mkdir(parents=True)
        experiment = {"experimentId": f"exp-{i:03d}", "n": i}
        (folder / "mock_experiment.json").write_text(json.dumps(experiment))
        (folder / "mock_samples.json").write_text(json.dumps(experiment))
        plots = plot_records(f"exp-{i:03d}", 5)
        (folder / "mock_plots_tables.json").write_text(json.dumps(plots))
    stack.make("reload-data", data=data)
    unchanged = statistics.median(
        stack.make("reload-data", data=data) for _ in range(5)
    )
    one = data / "exp-000" / "mock_experiment.json"
    one.write_text(json.dumps({"experimentId": "exp-000", "n": "changed"}))
    one_changed = stack.make("reload-data", data=data)
    everything = stack.make("reload-data", "ALL=1", data=data)
    return {
        "unchanged_s": unchanged,
        "one_changed_s": one_changed,
        "all_changed_s": everything,
    }


def loader_peak_mb(stack: BenchStack, work: Path, size_mb: int) -> float:
    """Peak RSS (MB) of the loader in a process of its own loading one r.rds.gz.

    `python -m inframock seed` runs the very loader a reload runs inside `make
    run`, but alone, so its memory is the loader's and nothing else's.
    """
    data = work / f"peak-{size_mb}"
    write_rds(data / "peak", size_mb * MB)
    env = dict(stack.env, BIOMAGE_DATA_PATH=str(data))
    loader = psutil.Popen(
        [sys.executable, "-m", "inframock", "seed"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    peak = 0
    while loader.poll() is None:
        try:
            peak = max(peak, loader.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.005)
    if loader.returncode != 0:
        raise RuntimeError(f"the loader failed with {loader.returncode}")
    shutil.rmtree(data)
    return peak / 1e6


def setup_seconds(work: Path, name: str, **env: str) -> float:
    """Seconds scripts/setup_venv.py takes to set up `make run`'s virtualenv
    in a fresh copy of the checkout, with `env` added."""
    folder = work / f"setup-{name}"
    folder.mkdir()
    venv = setup_copy(folder)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, str(folder / "scripts" / "setup_venv.py"), "run", str(venv)],
        cwd=folder,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.monotonic() - started
    shutil.rmtree(folder)
    return seconds


def setup_figures(work: Path) -> dict[str, float]:
    """The first set-up with uv (its cache warm, then empty) and with pip."""
    setup_seconds(work, "warming")  # uv's cache holds every package now
    return {
        "uv_warm_s": setup_seconds(work, "uv-warm"),
        "uv_cold_s": setup_seconds(work, "uv-cold", UV_CACHE_DIR=str(work / "uv")),
        "pip_s": setup_seconds(work, "pip", INFRAMOCK_INSTALLER="pip"),
    }


def setup_rows(setup: dict[str, float]) -> list[tuple[str, str, str]]:
    """The set-up figures as table rows."""
    return [
        ("first set-up, uv (cache warm)", f"{setup['uv_warm_s']:.1f} s", "≤ 60 s"),
        ("first set-up, uv (cache cold)", f"{setup['uv_cold_s']:.1f} s", ""),
        ("first set-up, pip", f"{setup['pip_s']:.1f} s", ""),
        ("  uv warm ÷ pip", ratio(setup["uv_warm_s"], setup["pip_s"]), ""),
    ]


def arguments() -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="start-ups to time")
    parser.add_argument("--rds-mb", type=int, default=256, help="r.rds size (MB)")
    parser.add_argument("--items", type=int, default=20_000, help="plots records")
    parser.add_argument("--experiments", type=int, default=100, help="for reloads")
    parser.add_argument(
        "--queue-depth", type=int, default=1000, help="messages waiting in SQS"
    )
    parser.add_argument(
        "--restart-gb",
        default="1,5",
        help="r.rds sizes (GB, comma-separated) for the restart figures",
    )
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench-results" / "bench.json"
    )
    parser.add_argument(
        "--only-restart", action="store_true", help="only the restart figures"
    )
    parser.add_argument(
        "--persist-gb",
        default="1,5",
        help="generated state (GB, comma-separated) for the persisted restarts",
    )
    parser.add_argument(
        "--only-setup",
        action="store_true",
        help="only the first set-up's figures (uv and pip)",
    )
    parser.add_argument(
        "--only-engines",
        action="store_true",
        help="only the engines side by side (moto, MiniStack)",
    )
    parser.add_argument(
        "--only-persist",
        action="store_true",
        help="only the persisted-restart figures",
    )
    return parser.parse_args()


def gigabytes(option: str) -> list[float]:
    """The sizes a comma-separated `--*-gb` option names."""
    return [float(size) for size in option.split(",") if size]


def only(args: argparse.Namespace, work: Path, empty: Path, default: Path) -> bool:
    """Run the one measurement an `--only-*` option asks for, printed; False
    when none does."""
    if args.only_setup:
        for row in setup_rows(setup_figures(work)):
            console.print("  ".join(row))
    elif args.only_persist:
        only_persisted(work, gigabytes(args.persist_gb), args.runs, args.json)
    elif args.only_restart:
        restart = restart_figures(work, gigabytes(args.restart_gb), args.runs)
        for row in restart_rows(restart):
            console.print("  ".join(row))
    elif args.only_engines:
        console.print("the engines side by side …")
        console.print(engine_table(engines(work, empty, default, args)))
    else:
        return False
    return True


def main() -> None:
    """Run every measurement, print the table, write the JSON."""
    args = arguments()
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
    }
    with tempfile.TemporaryDirectory(prefix="inframock-bench-") as tmp:
        work = Path(tmp)
        empty = work / "empty"
        empty.mkdir()
        default = work / "default"
        write_default(default)  # what `make run` writes on first use
        if only(args, work, empty, default):
            return
        console.print("start-up …")
        median_empty, empties = median_start(work, empty, args.runs)
        median_default, defaults = median_start(work, default, args.runs)
        results["startup"] = {
            "empty_median_s": median_empty,
            "default_median_s": median_default,
            "empty_runs_s": empties,
            "default_runs_s": defaults,
        }
        stack = BenchStack(work, empty)
        try:
            time.sleep(1)  # idle means after the start-up burst has settled
            results["idle_rss_mb"] = {
                f"{p.name()} {p.pid}": round(p.memory_info().rss / 1e6, 1)
                for p in stack.processes()
                if p.name() != "make"
            }
            console.print("loader memory …")
            results["loader_peak_mb"] = {
                f"{size} MB": loader_peak_mb(stack, work, size)
                for size in (args.rds_mb // 4, args.rds_mb)
            }
            console.print("r.rds loading …")
            results["rds"] = rds_figures(stack, work, args.rds_mb)
            console.print("DynamoDB loading …")
            results["dynamodb"] = dynamodb_figures(stack, work, args.items)
            console.print("DynamoDB Query of big plots …")
            results["plots_query"] = plots_query_figures(stack)
            console.print("SQS with messages waiting …")
            results["sqs"] = sqs_figures(stack, args.queue_depth)
            console.print("reloads …")
            results["reload"] = reload_figures(stack, work, args.experiments)
        finally:
            stack.stop()
        console.print("restarts with unchanged r.rds …")
        results["restart"] = restart_figures(
            work, gigabytes(args.restart_gb), args.runs
        )
        console.print("persisted restarts …")
        results["persisted"] = persisted_figures(
            work, gigabytes(args.persist_gb), args.runs
        )
        console.print("first set-up of .venv …")
        results["setup"] = setup_figures(work)
        console.print("the engines side by side …")
        results["engines"] = engines(work, empty, default, args)
    report(results)
    console.print(engine_table(results["engines"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    console.print(f"written to {args.json}")


def engines(
    work: Path, empty: Path, default: Path, args: argparse.Namespace
) -> dict[str, dict[str, float | str]]:
    """Both engines' figures (scripts/bench_engines.py), BenchStacks in `work`."""
    return engine_figures(
        EngineBench(
            functools.partial(BenchStack, work),
            work,
            empty,
            default,
            args.runs,
            args.items // 4,
            plot_records,
        )
    )


def ratio(numerator: float, denominator: float) -> str:
    """A ratio with two decimals."""
    return f"{numerator / denominator:.2f}"


def restart_rows(restart: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows of the restart figures."""
    empty = restart["empty_median_s"]
    rows = [("restart, empty data (median)", f"{empty:.2f} s", "")]
    for size, figures in restart["sizes"].items():
        rows.append(
            (
                f"restart, {size} GB r.rds unchanged",
                f"{figures['median_s']:.2f} s ({figures['median_s'] - empty:+.2f} s)",
                "≤ +0.5 s",
            )
        )
        rows.append(
            (
                "  its load (empty folder's)",
                f"{figures['load_median_s']:.2f} s "
                f"({restart['load_median_s']:.2f} s)",
                "",
            )
        )
    for size, figures in restart["sizes"].items():
        rows += [
            (
                f"first load of {size} GB",
                f"{figures['first_load_mb_s']:.0f} MB/s",
                "",
            ),
            (
                "  ÷ gzip -dc",
                ratio(figures["first_load_mb_s"], figures["gzip_dc_mb_s"]),
                "≥ 0.9",
            ),
            (
                "  ÷ zlib alone",
                ratio(figures["first_load_mb_s"], figures["zlib_mb_s"]),
                "",
            ),
        ]
    rows.append(
        (
            "cache disk used",
            f"{restart['cache_disk_mb']:.0f} MB "
            f"(.gz files: {restart['data_gz_mb']:.0f} MB)",
            "",
        )
    )
    return rows


def plots_query_rows(plots: dict[str, float]) -> list[tuple[str, str, str]]:
    """The rows of the big plots' Query and writes."""
    return [
        (
            f"Query of {plots['response_mb']:.1f} MB of plots",
            f"{plots['inframock_query_s']:.2f} s",
            "",
        ),
        (
            "  ÷ plain moto",
            f"{ratio(plots['inframock_query_s'], plots['moto_query_s'])} "
            f"({plots['moto_query_s']:.1f} s)",
            "≤ 0.2",
        ),
        ("  their PutItems", f"{plots['inframock_put_s']:.2f} s", ""),
        (
            "  ÷ plain moto",
            f"{ratio(plots['inframock_put_s'], plots['moto_put_s'])} "
            f"({plots['moto_put_s']:.1f} s)",
            "",
        ),
    ]


def report(results: dict[str, Any]) -> None:
    """The figures and their ratios against the targets, as a table."""
    rds, ddb, reload = results["rds"], results["dynamodb"], results["reload"]
    sqs = results["sqs"]
    idle = sum(results["idle_rss_mb"].values())
    ceiling = min(rds["upload_file_mb_s"], rds["gunzip_mb_s"])
    peaks = results["loader_peak_mb"]
    startup = results["startup"]
    rows = [
        ("ready, empty data (median)", f"{startup['empty_median_s']:.2f} s", ""),
        (
            "ready, default experiment",
            f"{startup['default_median_s']:.2f} s",
            "≤ 1.0 s",
        ),
        ("idle memory, whole stack", f"{idle:.0f} MB", "≤ 120 MB"),
        ("r.rds load", f"{rds['inframock_mb_s']:.0f} MB/s", ""),
        (
            "  ÷ min(upload_file, gunzip)",
            ratio(rds["inframock_mb_s"], ceiling),
            "≥ 0.9",
        ),
        (
            "  upload_file / gunzip",
            f"{rds['upload_file_mb_s']:.0f} / {rds['gunzip_mb_s']:.0f} MB/s",
            "",
        ),
        (
            "loader peak memory",
            " / ".join(f"{v:.0f} MB ({k})" for k, v in peaks.items()),
            "≤ 100 MB",
        ),
        ("DynamoDB load", f"{ddb['inframock_items_s']:.0f} items/s", ""),
        (
            "  ÷ best batch_write_item",
            ratio(ddb["inframock_items_s"], ddb["best_batch_items_s"]),
            "≥ 0.8",
        ),
        (
            "  ÷ put_item loop",
            ratio(ddb["inframock_items_s"], ddb["put_item_loop_items_s"]),
            "≥ 10",
        ),
        *plots_query_rows(results["plots_query"]),
        (
            f"SQS send, {sqs['depth']} waiting ÷ few",
            f"{ratio(sqs['deep_send_ms'], sqs['few_send_ms'])} "
            f"({sqs['deep_send_ms']:.1f} / {sqs['few_send_ms']:.1f} ms)",
            "≤ 2",
        ),
        (
            f"SQS receive of 10, {sqs['depth']} waiting ÷ few",
            f"{ratio(sqs['deep_receive_ms'], sqs['few_receive_ms'])} "
            f"({sqs['deep_receive_ms']:.1f} / {sqs['few_receive_ms']:.1f} ms)",
            "≤ 3",
        ),
        ("reload, nothing changed", f"{reload['unchanged_s']:.2f} s", "≤ 0.3 s"),
        ("reload, one file changed", f"{reload['one_changed_s']:.2f} s", ""),
        ("reload, everything", f"{reload['all_changed_s']:.2f} s", ""),
        *restart_rows(results["restart"]),
        *persisted_rows(results["persisted"]),
        *setup_rows(results["setup"]),
    ]
    table = Table(title="inframock bench", title_justify="left")
    for column in ("measure", "figure", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    machine = results["machine"]
    console.print(
        f"machine: {machine['cpus']} CPUs, {machine['memory_gb']} GB, "
        f"Python {machine['python']}, {machine['platform']}"
    )


if __name__ == "__main__":
    main()
