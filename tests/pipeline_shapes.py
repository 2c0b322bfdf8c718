"""Today's Cellenics pipeline as the tests run it: the API's state machines,
its reading of the history, and a stand-in for the R pipeline runner.

Built from the API's own code (hms-dbmi-cellenics/api 4507bc93,
`src/api.v2/helpers/pipeline/pipelineConstruct/` and `getPipelineStatus.js`)
and the runner's loop (pipeline 81f42feb, `pipeline-runner/R/init-functions.R`
`init`), with their field names; nothing here is inframock's.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

ACCOUNT = "000000000000"
REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/state-machine-role-development"
HANDLE_ERROR = "HandleError"
END = "EndOfPipeline"
QC_STEPS = (
    "ClassifierFilter",
    "CellSizeDistributionFilter",
    "MitochondrialContentFilter",
    "NumGenesVsNumUmisFilter",
    "DoubletScoresFilter",
    "DataIntegration",
    "ConfigureEmbedding",
)
"""getPipelineStatus.js's qcPipelineSteps: the steps it reports."""


def catch() -> list[dict[str, Any]]:
    """createCatchSteps()."""
    return [
        {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.errorInfo",
            "Next": HANDLE_ERROR,
        }
    ]


def launcher_states(activity_arn: str, process: str, first: str) -> dict[str, Any]:
    """createLocalPipeline + deleteCompleteJobs + createNewJobIfNotExist."""
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    return {
        "DeleteCompletedPipelineWorker": {
            "Next": "LaunchNewPipelineWorker",
            "ResultPath": None,
            "Type": "Task",
            "Comment": (
                "Removes Docker containers with pipeline runs on the local machine."
            ),
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": f"{function}remove-previous-pipeline-containers"
            },
        },
        "LaunchNewPipelineWorker": {
            "Next": first,
            "ResultPath": None,
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": f"{function}local-container-launcher",
                "Payload": {
                    "image": "biomage-pipeline-runner",
                    "name": f"{process}-runner",
                    "detached": True,
                    "activityArn": activity_arn,
                },
            },
            "Catch": catch(),
        },
    }


def error_states(
    topic_arn: str, api_url: str, experiment: str, activity_arn: str, process: str
) -> dict[str, Any]:
    """createHandleErrorStep (its States.Format escaping included) + MarkAsFailed."""
    message = json.dumps(
        {
            "taskName": "pipeline_error",
            "experimentId": experiment,
            "apiUrl": api_url,
            "input": {
                "authJWT": "Bearer jwt",
                "experimentId": experiment,
                "error": "INPUT_PLACEHOLDER",
                "taskName": "pipeline_error",
                "sandboxId": "default",
                "activityId": activity_arn.split(":")[-1],
                "processName": process,
            },
        },
        separators=(",", ":"),
    )
    message = message.replace("{", "\\{").replace("}", "\\}")
    message = message.replace("INPUT_PLACEHOLDER", "{}", 1)
    return {
        HANDLE_ERROR: {
            "Next": "MarkAsFailed",
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": topic_arn,
                "Message.$": f"States.Format('{message}', $.errorInfo.Error)",
                "MessageAttributes": {
                    "type": {"DataType": "String", "StringValue": "PipelineResponse"}
                },
            },
        },
        "MarkAsFailed": {"Type": "Fail"},
        END: {"Type": "Pass", "End": True},
    }


def activity_task(  # pylint: disable=too-many-arguments
    activity_arn: str,
    task: str,
    experiment: str,
    process: str,
    per_sample: bool,
    heartbeat: int = 360,
) -> dict[str, Any]:
    """createNewStep with getGeneralParams + getQCParams."""
    parameters: dict[str, Any] = {
        "projectId": "project-1",
        "experimentId": experiment,
        "taskName": task,
        "processName": process,
        "server": "host.docker.internal",
        "ignoreSslCert": False,
    }
    if process == "qc":
        parameters.update(
            {"sampleUuid.$": "$.sampleUuid"} if per_sample else {"sampleUuid": ""}
        )
        parameters.update(
            uploadCountMatrix=task == "dataIntegration",
            authJWT="Bearer jwt",
            config={},
            clusteringShouldRun=True,
            metadataS3Path=None,
        )
    return {
        "Type": "Task",
        "Resource": activity_arn,
        "ResultPath": None,
        "TimeoutSeconds": 21600,
        "HeartbeatSeconds": heartbeat,
        "Parameters": parameters,
    }


def qc_machine(  # pylint: disable=too-many-arguments
    activity_arn: str,
    topic_arn: str,
    api_url: str,
    experiment: str,
    heartbeat: int = 360,
) -> dict[str, Any]:
    """getQcPipelineSkeleton('development', [ClassifierFilterMap, DataIntegration,
    ConfigureEmbedding]) built by buildStateMachineDefinition."""
    states = launcher_states(activity_arn, "qc", "ClassifierFilterMap")
    classifier = activity_task(
        activity_arn, "classifier", experiment, "qc", True, heartbeat
    )
    states["ClassifierFilterMap"] = {
        "Type": "Map",
        "Next": "DataIntegration",
        "ResultPath": None,
        "ItemsPath": "$.samples",
        "Iterator": {
            "StartAt": "ClassifierFilter",
            "States": {"ClassifierFilter": {**classifier, "End": True}},
        },
        "Catch": catch(),
    }
    for name, task, after in (
        ("DataIntegration", "dataIntegration", "ConfigureEmbedding"),
        ("ConfigureEmbedding", "configureEmbedding", END),
    ):
        states[name] = {
            **activity_task(activity_arn, task, experiment, "qc", False, heartbeat),
            "Next": after,
            "Catch": catch(),
        }
    states.update(error_states(topic_arn, api_url, experiment, activity_arn, "qc"))
    return {
        "Comment": "QC Pipeline for clusterEnv 'development'",
        "StartAt": "DeleteCompletedPipelineWorker",
        "States": states,
    }


def gem2s_machine(
    activity_arn: str,
    topic_arn: str,
    api_url: str,
    experiment: str,
    heartbeat: int = 360,
) -> dict[str, Any]:
    """getGem2sPipelineSkeleton('development') with two of its steps."""
    states = launcher_states(activity_arn, "gem2s", "DownloadGem")
    for name, task, after in (
        ("DownloadGem", "downloadGem", "PreProcessing"),
        ("PreProcessing", "preproc", END),
    ):
        states[name] = {
            **activity_task(activity_arn, task, experiment, "gem2s", False, heartbeat),
            "Next": after,
            "Catch": catch(),
        }
    states.update(error_states(topic_arn, api_url, experiment, activity_arn, "gem2s"))
    return {
        "Comment": "Gem2s Pipeline for clusterEnv 'development'",
        "StartAt": "DeleteCompletedPipelineWorker",
        "States": states,
    }


def qc_input(samples: list[str]) -> str:
    """createQCPipeline's execution input, with executeStateMachine's retries."""
    return json.dumps(
        {
            "samples": [{"sampleUuid": s, "index": i} for i, s in enumerate(samples)],
            "retries": ["retry"],
        }
    )


class _Branch:  # pylint: disable=too-few-public-methods
    """getStepsFromExecutionHistory's Branch, line for line."""

    def __init__(self, event: dict[str, Any], make_root: bool = False) -> None:
        self.visited = [event["id"]]
        self.current_state = ""
        self.completed: list[str] = []
        self.branches: dict[int, _Branch] = {}
        self.branch_count = 0
        self._update(event)
        if make_root:
            self.visited.append(event.get("previousEventId"))

    def working_on_branches(self) -> bool:
        """Every iteration of the map has started."""
        return self.branch_count == len(self.branches)

    def _update(self, event: dict[str, Any]) -> None:
        if "stateEnteredEventDetails" in event:
            self.current_state = event["stateEnteredEventDetails"]["name"]

    def next_consumer(self, event: dict[str, Any]) -> _Branch | None:
        """The branch that takes `event` (by its previousEventId)."""
        if event.get("previousEventId") in self.visited:
            return self
        if event["type"] == "MapStateExited":
            return self
        for branch in self.branches.values():
            consumer = branch.next_consumer(event)
            if consumer:
                return consumer
        return None

    def consume(self, event: dict[str, Any]) -> None:
        """Take `event` into this branch."""
        if event["type"] == "MapIterationStarted":
            index = event["mapIterationStartedEventDetails"]["index"]
            self.branches[index] = _Branch(event)
            return
        self.visited.append(event["id"])
        self._update(event)
        if event["type"] in ("TaskSucceeded", "ActivitySucceeded"):
            self.completed.append(self.current_state)
        elif event["type"] == "MapStateStarted":
            self.branch_count = event["mapStateStartedEventDetails"]["length"]
        elif event["type"] == "MapStateExited" and 0 in self.branches:
            self.completed += self.branches[0].completed
            self.branches = {}
            self.branch_count = 0


def steps_from_history(
    events: list[dict[str, Any]], reported: tuple[str, ...]
) -> list[str]:
    """What getPipelineStatus reports as completed from these events."""
    if not events:
        return []
    main = _Branch(events[0], make_root=True)
    for event in events[1:]:
        consumer = main.next_consumer(event)
        assert consumer is not None, f"no branch takes event {event}"
        consumer.consume(event)
    shortest: list[str] | None = None
    if main.working_on_branches():
        for branch in main.branches.values():
            if shortest is None or len(branch.completed) < len(shortest):
                shortest = branch.completed
    return [s for s in (shortest or []) + main.completed if s in reported]


def check_error(events: list[dict[str, Any]]) -> dict[str, Any] | bool:
    """getPipelineStatus.js's checkError: the last ActivityFailed's details."""
    failed = [e for e in events if e["type"] == "ActivityFailed"]
    return failed[-1]["activityFailedEventDetails"] if failed else False


def history(sfn: Any, execution_arn: str, page: int = 0) -> list[dict[str, Any]]:
    """getExecutionHistory: every page, as the API reads it."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        args: dict[str, Any] = {
            "executionArn": execution_arn,
            "includeExecutionData": False,
        }
        if page:
            args["maxResults"] = page
        if token:
            args["nextToken"] = token
        answer = sfn.get_execution_history(**args)
        events += answer["events"]
        token = answer.get("nextToken")
        if not token:
            return events


Behaviour = Callable[[Any, str, dict[str, Any]], None]
"""What the stand-in runner does with a task: (client, token, input)."""


def succeed(sfn: Any, token: str, _: dict[str, Any]) -> None:
    """A task done: a heartbeat, then SendTaskSuccess with `{}` as R sends it."""
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output="{}")


class StandInRunner(threading.Thread):
    """init()'s loop: GetActivityTask until stopped, each task to `behaviour`."""

    def __init__(
        self, sfn: Any, activity_arn: str, behaviour: Behaviour = succeed
    ) -> None:
        super().__init__(daemon=True)
        self.sfn, self.activity_arn, self.behaviour = sfn, activity_arn, behaviour
        self.tasks: list[dict[str, Any]] = []
        self.empty_polls = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            task = self.sfn.get_activity_task(
                activityArn=self.activity_arn, workerName="local"
            )
            token = task.get("taskToken")
            if not token:
                self.empty_polls += 1
                continue
            given = json.loads(task["input"])
            self.tasks.append(given)
            self.behaviour(self.sfn, token, given)
