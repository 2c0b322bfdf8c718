"""`make bench`'s side by side of the AWS engines (INFRAMOCK_ENGINE): every
figure measured on moto and on MiniStack in the same run, and their ratio.

For each engine: ready with an empty data folder and with the default
experiment (profile 2021) and with an empty one on profile `current`, medians
of N starts; the idle memory of the whole stack (supervisor, engine, Redis)
and its memory once the default experiment is loaded; the loader's DynamoDB
rate; SQS traffic from 8 sending and 8 receiving threads (seconds, and
duplicates received); the API's QC state machine over three samples run to
its end with a stand-in runner (inframock/testing/pipeline_shapes.py); and a
restart that restores the default experiment's persisted state. What an engine
does not do is its cell saying so: the state a QC run failed in, "refused" for
a persistence it refuses.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.table import Table

from inframock.testing.harness import RunningStack, wait_until
from inframock.testing.pipeline_shapes import (
    ROLE,
    TOPIC_ARN,
    StandInRunner,
    history,
    qc_input,
    qc_machine,
)

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


def qc_run(stack: RunningStack, samples: int = 3) -> float | str:
    """Seconds from StartExecution to SUCCEEDED of the API's QC machine over
    `samples` samples, a stand-in runner answering each task at once; or, if
    the run fails, the state it failed in."""
    sfn = stack.client("stepfunctions")
    activity = sfn.create_activity(name="pipeline-development-bench")["activityArn"]
    machine = qc_machine(activity, TOPIC_ARN, "http://127.0.0.1:9", "exp-bench")
    arn = sfn.create_state_machine(
        name="biomage-qc-development-bench",
        definition=json.dumps(machine),
        roleArn=ROLE,
        type="STANDARD",
    )["stateMachineArn"]
    runner = StandInRunner(stack.client("stepfunctions"), activity)
    runner.start()
    started = time.monotonic()
    execution = sfn.start_execution(
        stateMachineArn=arn, input=qc_input([f"s{n}" for n in range(samples)])
    )["executionArn"]
    described: dict[str, Any] = {}

    def ended() -> bool:
        described.update(sfn.describe_execution(executionArn=execution))
        return described["status"] != "RUNNING"

    wait_until(ended, 120, "the QC run to end")
    seconds = time.monotonic() - started
    runner.stopping.set()
    if described["status"] == "SUCCEEDED":
        return seconds
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in history(sfn, execution)
        if "stateEnteredEventDetails" in e
    ]
    return f"{described['status']} at {entered[-1] if entered else '?'}"


def persisted_restart(
    start: Callable[..., Any], default: Path, state: Path, **env: str
) -> float | str:
    """Ready after a restart that restores the default experiment's saved
    state (INFRAMOCK_PERSIST, in `state`); "refused" where the engine
    refuses to keep state."""
    persist = dict(env, INFRAMOCK_PERSIST="true", INFRAMOCK_STATE_DIR=str(state))
    try:
        start(default, **persist).stop()  # loads, then saves on SIGTERM
    except AssertionError as refused:  # the output of a stack that never started
        if "INFRAMOCK_PERSIST" not in str(refused):
            raise
        return "refused"
    stack = start(default, **persist)
    stack.stop()
    return float(stack.ready_after)


@dataclass(frozen=True)
class EngineBench:
    """What every engine's figures are measured with."""

    start: Callable[..., Any]
    """start(data, **env): a ready BenchStack."""
    work: Path
    empty: Path
    """An empty data folder."""
    default: Path
    """The default experiment's data folder."""
    runs: int
    """Starts per ready figure (their median)."""
    items: int
    """Items of the DynamoDB load."""
    records: Callable[..., Any]
    """records(experiment, count): a plots-tables file's records."""


def engine_figures(bench: EngineBench) -> dict[str, dict[str, float | str]]:
    """Each engine's figures, one engine after the other."""
    return {engine: one_engine(bench, engine) for engine in ENGINES}


def one_engine(bench: EngineBench, engine: str) -> dict[str, float | str]:
    """One engine's figures (ROWS' keys)."""
    start, runs = bench.start, bench.runs
    figures: dict[str, float | str] = {
        "ready_empty_s": median_ready(
            start, bench.empty, runs, INFRAMOCK_ENGINE=engine
        ),
        "ready_default_s": median_ready(
            start, bench.default, runs, INFRAMOCK_ENGINE=engine
        ),
        "ready_current_s": median_ready(
            start,
            bench.empty,
            runs,
            INFRAMOCK_ENGINE=engine,
            INFRAMOCK_PROFILE="current",
        ),
    }
    stack = start(bench.empty, INFRAMOCK_ENGINE=engine)
    try:
        time.sleep(1)  # idle means after the start-up burst has settled
        figures["idle_mb"] = stack_memory_mb(stack)
        figures["dynamodb_items_s"] = dynamodb_items_s(
            stack, bench.work, bench.items, bench.records
        )
        traffic = sqs_traffic(stack)
        figures["sqs_8x8_s"] = traffic["seconds"]
        figures["sqs_8x8_duplicates"] = traffic["duplicates"]
    finally:
        stack.stop()
    stack = start(bench.default, INFRAMOCK_ENGINE=engine)
    try:
        figures["loaded_default_mb"] = stack_memory_mb(stack)
    finally:
        stack.stop()
    stack = start(
        bench.empty,
        INFRAMOCK_ENGINE=engine,
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_PIPELINE_COMMAND="true",  # the bench's own thread is the runner
    )
    try:
        figures["qc_run_s"] = qc_run(stack)
    finally:
        stack.stop()
    figures["persisted_restart_s"] = persisted_restart(
        start,
        bench.default,
        bench.work / f"persisted-{engine}",
        INFRAMOCK_ENGINE=engine,
    )
    return figures


ROWS = (
    ("ready, empty data", "ready_empty_s", "{:.2f} s", "≤ 1.0 s"),
    ("ready, default data", "ready_default_s", "{:.2f} s", "≤ 1.5 s"),
    ("ready, `current`", "ready_current_s", "{:.2f} s", ""),
    ("idle memory", "idle_mb", "{:.0f} MB", "≤ 80 MB"),
    ("memory, loaded", "loaded_default_mb", "{:.0f} MB", ""),
    ("DynamoDB load", "dynamodb_items_s", "{:.0f} items/s", ""),
    ("SQS, 8 + 8 threads", "sqs_8x8_s", "{:.2f} s", ""),
    ("  duplicates", "sqs_8x8_duplicates", "{:.0f}", "0"),
    ("QC run, 3 samples", "qc_run_s", "{:.2f} s", ""),
    ("persisted restart", "persisted_restart_s", "{:.2f} s", ""),
)
"""(measure, figure, format, target for the default engine)."""


def engine_table(figures: dict[str, dict[str, float | str]]) -> Table:
    """The side by side as a table (targets: the default engine's)."""
    table = Table(
        title="the AWS engines side by side (medians; memory: the whole stack)",
        title_justify="left",
    )
    for column in ("measure", "moto", "ministack", "÷ moto", "target"):
        table.add_column(column, overflow="fold")
    for row in engine_rows(figures):
        table.add_row(*row)
    return table


def engine_rows(figures: dict[str, dict[str, float | str]]) -> list[tuple[str, ...]]:
    """One row per measure: each engine's figure (or what it did instead) and
    MiniStack ÷ moto where both are figures."""
    moto, ministack = figures["moto"], figures["ministack"]
    rows = []
    for label, key, shape, target in ROWS:
        mine, theirs = ministack[key], moto[key]
        both = isinstance(mine, float | int) and isinstance(theirs, float | int)
        share = f"{mine / theirs:.2f}" if both and theirs else "-"
        rows.append((label, cell(theirs, shape), cell(mine, shape), share, target))
    gaps = [
        f"{float(f['ready_current_s']) - float(f['ready_empty_s']):+.2f} s"
        for f in (moto, ministack)
    ]
    rows.append(("  `current` − 2021", *gaps, "", "≤ +0.3 s"))
    return rows


def cell(figure: float | str, shape: str) -> str:
    """A figure in its shape; what happened instead as it was said."""
    return figure if isinstance(figure, str) else shape.format(figure)
