"""A stand-in for Cellenics' R pipeline runner: the same Step Functions calls, no R.

pipeline-runner/R/init-functions.R (pipeline 81f42feb) `init()` does, in a loop:
`get_activity_task(activityArn, workerName = pod_name)`; an empty token means "no work
in the last poll" and the runner quits; otherwise it parses `input` (JSON), starts a
heartbeat process (`send_task_heartbeat` every 30 s until it fails), runs the task and
answers `send_task_success(taskToken, output = "{}")`, or `send_task_failure(taskToken,
error, cause)` when the task raised, then waits 2 s and kills the heartbeat.

This script makes exactly those calls with boto3, so a run of the API's own state
machine can be completed without R or Docker. It also checks the fields the R
`wrapper()` / `call_qc()` read from the input, so a stack that loses them is caught.

Configuration is the R runner's environment: ACTIVITY_ARN (required),
AWS_DEFAULT_REGION, K8S_POD_NAME (the worker name, default `local`); the endpoint is
AWS_ENDPOINT_URL, else `http://HOST_IP:4566` as R builds it (so R itself reaches only a
stack on the default port).
RUNNER_HEARTBEAT_SECONDS (default 30), RUNNER_TASK_SECONDS (time a task "works",
default 0), RUNNER_FAIL_TASK (a taskName to answer with SendTaskFailure) and
RUNNER_LOG (a file of one JSON line per call) shape the run.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REQUIRED_FIELDS = ("taskName", "processName", "server", "experimentId")
"""Input fields R's wrapper() and call_qc() read for every task."""

QC_FIELDS = ("sampleUuid", "config", "uploadCountMatrix", "authJWT")
"""Input fields call_qc() reads for a QC task."""


def log(event: str, **fields: Any) -> None:
    """One JSON line on stdout and, if RUNNER_LOG is set, in that file."""
    line = json.dumps({"t": round(time.time(), 3), "event": event, **fields})
    print(line, flush=True)
    path = os.environ.get("RUNNER_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def endpoint() -> str | None:
    """AWS_ENDPOINT_URL, else R's load_config() endpoint http://HOST_IP:4566."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"]
    if os.environ.get("HOST_IP"):
        return f"http://{os.environ['HOST_IP']}:4566"
    return None


def client() -> Any:
    """A Step Functions client; read timeout above the 60 s long poll (AWS's advice)."""
    return boto3.client(
        "stepfunctions",
        region_name=os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
        endpoint_url=endpoint(),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "mock-access-key"),
        aws_secret_access_key=os.environ.get(
            "AWS_SECRET_ACCESS_KEY", "mock-secure-acces-key"
        ),
        config=Config(read_timeout=70, retries={"max_attempts": 1}),
    )


class Heartbeat(threading.Thread):
    """pipeline_heartbeat(): beat at once, then every interval, until a beat fails."""

    def __init__(self, token: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.token, self.interval = token, interval
        self.stopped = threading.Event()
        self.sent = 0

    def run(self) -> None:
        states = client()
        while not self.stopped.is_set():
            try:
                states.send_task_heartbeat(taskToken=self.token)
                self.sent += 1
            except ClientError as error:
                log("heartbeat-failed", code=error.response["Error"]["Code"])
                return
            self.stopped.wait(self.interval)


def check_input(task: dict[str, Any]) -> list[str]:
    """The fields R reads that this task's input lacks."""
    missing = [name for name in REQUIRED_FIELDS if name not in task]
    if task.get("processName") == "qc":
        missing += [name for name in QC_FIELDS if name not in task]
    return missing


def run_task(states: Any, token: str, task: dict[str, Any]) -> None:
    """Do the task's 'work' and answer as init() does."""
    heartbeat = Heartbeat(
        token, float(os.environ.get("RUNNER_HEARTBEAT_SECONDS", "30"))
    )
    heartbeat.start()
    time.sleep(float(os.environ.get("RUNNER_TASK_SECONDS", "0")))
    missing = check_input(task)
    fail = os.environ.get("RUNNER_FAIL_TASK") == task.get("taskName")
    if missing or fail:
        cause = (
            f"R error at filter step {task.get('taskName')}"
            f"{' for sample ' + task['sampleUuid'] if task.get('sampleUuid') else ''}"
            f"! : {'missing ' + ','.join(missing) if missing else 'asked to fail'}"
        )
        states.send_task_failure(
            taskToken=token,
            error="We had an issue while processing your data.",
            cause=cause,
        )
        log("failure", task=task.get("taskName"), cause=cause)
    else:
        states.send_task_success(taskToken=token, output="{}")
        log("success", task=task.get("taskName"), sample=task.get("sampleUuid"))
    heartbeat.stopped.set()
    heartbeat.join()
    log("heartbeats", task=task.get("taskName"), sent=heartbeat.sent)


def main() -> int:
    """init(): poll, work, answer; quit on the first empty poll."""
    activity_arn = os.environ.get("ACTIVITY_ARN")
    if not activity_arn:
        print("ACTIVITY_ARN is not set", file=sys.stderr)
        return 2
    worker = os.environ.get("K8S_POD_NAME", "local")
    states = client()
    log("start", activity=activity_arn, worker=worker)
    while True:
        started = time.monotonic()
        answer = states.get_activity_task(activityArn=activity_arn, workerName=worker)
        waited = round(time.monotonic() - started, 2)
        token = answer.get("taskToken")
        if not token:
            log("empty-poll", waited=waited)
            return 0
        task = json.loads(answer["input"])
        log(
            "task",
            waited=waited,
            task=task.get("taskName"),
            sample=task.get("sampleUuid"),
        )
        run_task(states, token, task)


if __name__ == "__main__":
    sys.exit(main())
