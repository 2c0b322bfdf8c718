"""`make bench`'s side by side of the AWS engines (INFRAMOCK_ENGINE): every
figure measured on moto and on MiniStack in the same run, and their ratio.

For each engine: ready with an empty data folder and with the default
experiment (profile 2021) and with an empty one on profile `current`, medians
of N starts; the idle memory of the whole stack (supervisor, engine, Redis)
and its memory once the default experiment is loaded; the loader's DynamoDB
rate; SQS traffic from 8 sending and 8 receiving threads (seconds, and
duplicates received). What one engine does not do is a row saying so
(MiniStack keeps no state across restarts yet: INFRAMOCK_PERSIST is refused).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from rich.table import Table

from inframock.testing.harness import RunningStack

ENGINES = ("moto", "ministack")
THREADS = 8
MESSAGES_PER_THREAD = 50


def stack_memory_mb(stack: RunningStack) -> float:
    """Resident memory of every process of the stack but `make`, in MB."""
    return (
        sum(p.memory_info().rss for p in stack.processes() if p.name() != "make") / 1e6
    )


def sqs_traffic(stack: RunningStack) -> dict[str, float]:
    """8 threads send MESSAGES_PER_THREAD each while 8 threads receive and
    delete until every message came: seconds, and messages received twice."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName=f"bench-traffic-{time.monotonic_ns()}")["QueueUrl"]
    total = THREADS * MESSAGES_PER_THREAD
    seen: list[str] = []
    lock = threading.Lock()

    def send(thread: int) -> None:
        client = stack.client("sqs")
        for n in range(MESSAGES_PER_THREAD):
            client.send_message(QueueUrl=url, MessageBody=f"{thread}-{n}")

    def receive(_: int) -> None:
        client = stack.client("sqs")
        while True:
            with lock:
                if len(set(seen)) >= total:
                    return
            answer = client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in answer.get("Messages", []):
                with lock:
                    seen.append(message["Body"])
                client.delete_message(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
                )

    started = time.monotonic()
    with ThreadPoolExecutor(2 * THREADS) as pool:
        futures = [pool.submit(send, n) for n in range(THREADS)]
        futures += [pool.submit(receive, n) for n in range(THREADS)]
        for future in futures:
            future.result()
    return {
        "seconds": time.monotonic() - started,
        "duplicates": len(seen) - len(set(seen)),
    }


def dynamodb_items_s(
    stack: Any, work: Path, count: int, records: Callable[..., Any]
) -> float:
    """Items/s the loader writes `count` plots-tables records at."""
    data = work / f"engine-ddb-{time.monotonic_ns()}"
    folder = data / "items"
    folder.mkdir(parents=True)
    (folder / "mock_plots_tables.json").write_text(json.dumps(records("items", count)))
    return float(count / stack.load_seconds(data))


def median_ready(start: Callable[..., Any], data: Path, runs: int, **env: str) -> float:
    """Median seconds to ready of `runs` starts of `start(data, **env)`."""
    times = []
    for _ in range(runs):
        stack = start(data, **env)
        times.append(stack.ready_after)
        stack.stop()
    return float(statistics.median(times))


def engine_figures(  # pylint: disable=too-many-arguments
    start: Callable[..., Any],
    work: Path,
    empty: Path,
    default: Path,
    runs: int,
    items: int,
    records: Callable[..., Any],
) -> dict[str, dict[str, float]]:
    """Each engine's figures; `start(data, **env)` is a ready BenchStack."""
    results: dict[str, dict[str, float]] = {}
    for engine in ENGINES:
        figures: dict[str, float] = {
            "ready_empty_s": median_ready(start, empty, runs, INFRAMOCK_ENGINE=engine),
            "ready_default_s": median_ready(
                start, default, runs, INFRAMOCK_ENGINE=engine
            ),
            "ready_current_s": median_ready(
                start,
                empty,
                runs,
                INFRAMOCK_ENGINE=engine,
                INFRAMOCK_PROFILE="current",
            ),
        }
        stack = start(empty, INFRAMOCK_ENGINE=engine)
        try:
            time.sleep(1)  # idle means after the start-up burst has settled
            figures["idle_mb"] = stack_memory_mb(stack)
            figures["dynamodb_items_s"] = dynamodb_items_s(stack, work, items, records)
            traffic = sqs_traffic(stack)
            figures["sqs_8x8_s"] = traffic["seconds"]
            figures["sqs_8x8_duplicates"] = traffic["duplicates"]
        finally:
            stack.stop()
        stack = start(default, INFRAMOCK_ENGINE=engine)
        try:
            figures["loaded_default_mb"] = stack_memory_mb(stack)
        finally:
            stack.stop()
        results[engine] = figures
    return results


ROWS = (
    ("ready, empty data (median)", "ready_empty_s", "{:.2f} s", "≤ 1.0 s"),
    ("ready, default experiment", "ready_default_s", "{:.2f} s", "≤ 1.5 s"),
    ("ready, profile current, empty", "ready_current_s", "{:.2f} s", ""),
    ("idle memory, whole stack", "idle_mb", "{:.0f} MB", "≤ 80 MB"),
    ("memory, default experiment", "loaded_default_mb", "{:.0f} MB", ""),
    ("DynamoDB load", "dynamodb_items_s", "{:.0f} items/s", ""),
    ("SQS, 8 senders + 8 receivers", "sqs_8x8_s", "{:.2f} s", ""),
    ("  duplicates received", "sqs_8x8_duplicates", "{:.0f}", "0"),
)
"""(measure, figure, format, target for the default engine)."""


def engine_table(figures: dict[str, dict[str, float]]) -> Table:
    """The side by side as a table (targets: the default engine's)."""
    table = Table(title="the AWS engines side by side", title_justify="left")
    for column in ("measure", "moto", "ministack", "÷ moto", "target"):
        table.add_column(column)
    for row in engine_rows(figures):
        table.add_row(*row)
    return table


def engine_rows(figures: dict[str, dict[str, float]]) -> list[tuple[str, ...]]:
    """One row per measure: each engine's figure and MiniStack ÷ moto."""
    moto, ministack = figures["moto"], figures["ministack"]
    rows = []
    for label, key, shape, target in ROWS:
        share = f"{ministack[key] / moto[key]:.2f}" if moto[key] else "-"
        rows.append(
            (
                label,
                shape.format(moto[key]),
                shape.format(ministack[key]),
                share,
                target,
            )
        )
    rows.append(
        (
            "  current − 2021, empty",
            f"{moto['ready_current_s'] - moto['ready_empty_s']:+.2f} s",
            f"{ministack['ready_current_s'] - ministack['ready_empty_s']:+.2f} s",
            "",
            "≤ +0.3 s",
        )
    )
    rows.append(("persisted restart", "kept (--only-persist)", "refused", "", ""))
    return rows
