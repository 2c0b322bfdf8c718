"""A stand-in pipeline runner run as INFRAMOCK_PIPELINE_COMMAND: init()'s loop.

It polls the activity named by ACTIVITY_ARN on AWS_ENDPOINT_URL, answers each
task with SendTaskSuccess, and quits on the first empty token, as the R runner
does. It writes the environment it was given to STANDIN_RECORD (JSON lines).
"""

from __future__ import annotations

import json
import os
import sys

import boto3

GIVEN = (
    "ACTIVITY_ARN",
    "AWS_DEFAULT_REGION",
    "HOST_IP",
    "SANDBOX_ID",
    "CLUSTER_ENV",
    "AWS_ENDPOINT_URL",
    "DEBUG_STEP",
    "DEBUG_PATH",
)


def main() -> int:
    """Run tasks until an empty poll; 0."""
    record = os.environ["STANDIN_RECORD"]
    with open(record, "a", encoding="utf-8") as out:
        out.write(json.dumps({k: os.environ.get(k) for k in GIVEN}) + "\n")
    sfn = boto3.client("stepfunctions")
    while True:
        task = sfn.get_activity_task(
            activityArn=os.environ["ACTIVITY_ARN"], workerName="local"
        )
        if not task.get("taskToken"):
            print("No input received during last poll, shutting down...", flush=True)
            return 0
        given = json.loads(task["input"])
        print(f"task {given.get('taskName')}", flush=True)
        with open(record, "a", encoding="utf-8") as out:
            out.write(json.dumps({"task": given.get("taskName")}) + "\n")
        sfn.send_task_success(taskToken=task["taskToken"], output="{}")


if __name__ == "__main__":
    sys.exit(main())
