"""Today's Cellenics pipeline as the tests run it: the API's state machines,
its reading of the history, and a stand-in for the R pipeline runner.

Built from the API's own code (hms-dbmi-cellenics/api 4507bc93,
`src/api.v2/helpers/pipeline/pipelineConstruct/` and `getPipelineStatus.js`)
and the runner's loop (pipeline 81f42feb, `pipeline-runner/R/init-functions.R`
`init`), with their field names; nothing here is inframock's. Used by
tests/stack/test_stepfunctions.py, tests/stack/test_pipeline_api_contract.py
and `make bench` (a QC run on each engine).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
REGION = "eu-west-1"
ENV = "development"
SANDBOX = "default"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/state-machine-role-{ENV}"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:work-results-{ENV}-{SANDBOX}-v2"
"""createHandleErrorStep's TopicArn in development."""
AUTH_JWT = "Bearer local-jwt"
"""The authJWT the API puts in every task and in HandleError's message."""
HANDLE_ERROR = "HandleError"
END = "EndOfPipeline"
FILTERS = (  # (Map state, its activity Task, the task name R runs)
    ("ClassifierFilterMap", "ClassifierFilter", "classifier"),
    (
        "CellSizeDistributionFilterMap",
        "CellSizeDistributionFilter",
        "cellSizeDistribution",
    ),
    (
        "MitochondrialContentFilterMap",
        "MitochondrialContentFilter",
        "mitochondrialContent",
    ),
    ("NumGenesVsNumUmisFilterMap", "NumGenesVsNumUmisFilter", "numGenesVsNumUmis"),
    ("DoubletScoresFilterMap", "DoubletScoresFilter", "doubletScores"),
)
"""qcPipelineSkeleton.js's five per-sample filters."""
AFTER_FILTERS = (
    ("DataIntegration", "dataIntegration"),
    ("ConfigureEmbedding", "configureEmbedding"),
)
"""qcPipelineSkeleton.js's steps after the filters: (state, task name)."""
QC_STATES = tuple(m for m, _, _ in FILTERS) + tuple(s for s, _ in AFTER_FILTERS)
"""Every QC step, as getQcPipelineSkeleton's qcSteps names them."""
QC_STEPS = tuple(t for _, t, _ in FILTERS) + tuple(s for s, _ in AFTER_FILTERS)
"""getPipelineStatus.js's qcPipelineSteps: what it reports for a whole QC run
(its completedSteps), in order."""
REPORTED_STEPS = frozenset(QC_STEPS)
"""getPipelineStepNames(): the steps the walker may report (launcher states are
not)."""


def catch() -> list[dict[str, Any]]:
    """createHandleErrorStep.js createCatchSteps()."""
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
            "taskName": "pipelineError",
            "experimentId": experiment,
            "apiUrl": api_url,
            "input": {
                "authJWT": AUTH_JWT,
                "experimentId": experiment,
                "error": "INPUT_PLACEHOLDER",
                "taskName": "pipelineError",
                "sandboxId": SANDBOX,
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


def activity_task(
    activity_arn: str,
    task: str,
    experiment: str,
    process: str,
    per_sample: bool,
    heartbeat: int = 360,
) -> dict[str, Any]:
    """createNewStep.js with getGeneralParams + getQCParams. projectId is undefined
    in the context: JSON drops it."""
    parameters: dict[str, Any] = {
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
            authJWT=AUTH_JWT,
            config={"enabled": True},
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


def qc_machine(
    activity_arn: str,
    topic_arn: str,
    api_url: str,
    experiment: str,
    heartbeat: int = 360,
    steps: tuple[str, ...] = ("ClassifierFilterMap", *(s for s, _ in AFTER_FILTERS)),
) -> dict[str, Any]:
    """getQcPipelineSkeleton('development', steps) built by
    buildStateMachineDefinition: the launcher, then `steps` (names from
    QC_STATES) one after the other, then EndOfPipeline. QC_STATES is every step;
    ("ConfigureEmbedding",) a re-run after a clustering change."""
    states = launcher_states(activity_arn, "qc", steps[0])
    filters = {m: (state, task) for m, state, task in FILTERS}
    tasks = dict(AFTER_FILTERS)
    for name, after in zip(steps, (*steps[1:], END)):
        if name in filters:
            state, task = filters[name]
            iteration = activity_task(
                activity_arn, task, experiment, "qc", True, heartbeat
            )
            states[name] = {
                "Type": "Map",
                "Next": after,
                "ResultPath": None,
                "ItemsPath": "$.samples",
                "Iterator": {
                    "StartAt": state,
                    "States": {state: {**iteration, "End": True}},
                },
                "Catch": catch(),
            }
        else:
            states[name] = {
                **activity_task(
                    activity_arn, tasks[name], experiment, "qc", False, heartbeat
                ),
                "Next": after,
                "Catch": catch(),
            }
    states.update(error_states(topic_arn, api_url, experiment, activity_arn, "qc"))
    return {
        "Comment": f"QC Pipeline for clusterEnv '{ENV}'",
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
        "Comment": f"Gem2s Pipeline for clusterEnv '{ENV}'",
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


class Branch:
    """getPipelineStatus.js getStepsFromExecutionHistory's Branch, line for line."""

    def __init__(self, event: dict[str, Any], make_root: bool = False) -> None:
        self.visited = [event["id"]]
        self.current_state = ""
        self.completed: list[str] = []
        self.branches: dict[int, Branch] = {}
        self.branch_count = 0
        self.update(event)
        if make_root:
            self.visited.append(event["previousEventId"])

    def working_on_branches(self) -> bool:
        """Every iteration of the map has started."""
        return self.branch_count == len(self.branches)

    def update(self, event: dict[str, Any]) -> None:
        """updateCurrentState: the JS tests `'stateEnteredEventDetails' in event`."""
        if "stateEnteredEventDetails" in event:
            self.current_state = event["stateEnteredEventDetails"]["name"]

    def next_consumer(self, event: dict[str, Any]) -> Branch | None:
        """nextConsumer: the branch that takes `event` (by its previousEventId)."""
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
        """consume: take `event` into this branch."""
        if event["type"] == "MapIterationStarted":
            index = event["mapIterationStartedEventDetails"]["index"]
            self.branches[index] = Branch(event)
            return
        self.visited.append(event["id"])
        self.update(event)
        if event["type"] in ("TaskSucceeded", "ActivitySucceeded"):
            self.completed.append(self.current_state)
        elif event["type"] == "MapStateStarted":
            self.branch_count = event["mapStateStartedEventDetails"]["length"]
        elif event["type"] == "MapStateExited" and 0 in self.branches:
            self.completed += self.branches[0].completed
            self.branches = {}
            self.branch_count = 0


def steps_from_history(
    events: list[dict[str, Any]], reported: frozenset[str] = REPORTED_STEPS
) -> list[str]:
    """The completed steps getPipelineStatus reports from these events (those in
    `reported`); fails where the JS would throw."""
    if not events:
        return []
    main = Branch(events[0], make_root=True)
    for event in events[1:]:
        consumer = main.next_consumer(event)
        assert consumer is not None, (
            "getPipelineStatus would throw (null consumer): no branch has visited "
            f"previousEventId of {event}"
        )
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


def history_pages(
    sfn: Any, execution_arn: str, page: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """getExecutionHistory as the API pages it (`maxResults` = `page` unless 0):
    every event, and how many pages it took."""
    events: list[dict[str, Any]] = []
    token, pages = None, 0
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
        pages += 1
        token = answer.get("nextToken")
        if not token:
            return events, pages


def history(sfn: Any, execution_arn: str, page: int = 0) -> list[dict[str, Any]]:
    """getExecutionHistory: every page's events, as the API reads them."""
    return history_pages(sfn, execution_arn, page)[0]


Behaviour = Callable[[Any, str, dict[str, Any]], None]
"""What the stand-in runner does with a task: (client, token, input)."""


def succeed(sfn: Any, token: str, _: dict[str, Any]) -> None:
    """A task done: a heartbeat, then SendTaskSuccess with `{}` as R sends it."""
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output="{}")


def fail_as_r(sfn: Any, token: str, task: dict[str, Any]) -> None:
    """SendTaskFailure with the error and cause R sends for a failed step."""
    sfn.send_task_failure(
        taskToken=token,
        error="We had an issue while processing your data.",
        cause=f"R error at filter step {task['taskName']}! : boom",
    )


class AnswerAsR:
    """init-functions.R's answer to a task: a heartbeat, then SendTaskSuccess with
    "{}", or `fail_as_r` for the task named `fail`. As in R, where the heartbeat is
    a process of its own, a failed beat (a stale token) only ends beating: it is
    recorded in `heartbeat_errors` and the task is still answered."""

    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.heartbeat_errors: list[str] = []

    def __call__(self, sfn: Any, token: str, task: dict[str, Any]) -> None:
        try:
            sfn.send_task_heartbeat(taskToken=token)
        except ClientError as error:
            self.heartbeat_errors.append(f"{task['taskName']}: {error!r}")
        if task["taskName"] == self.fail:
            fail_as_r(sfn, token, task)
        else:
            sfn.send_task_success(taskToken=token, output="{}")


class StandInRunner(threading.Thread):
    """init()'s loop: GetActivityTask until stopped, each task to `behaviour`.

    With `quit_when_idle` it quits at the first empty token, as R does
    (`ended_empty`); else it polls on until `stopping` is set. A failed poll ends
    the loop, a failed answer does not; both are recorded in `errors`.
    `last_wait` is how long the last poll took."""

    def __init__(
        self,
        sfn: Any,
        activity_arn: str,
        behaviour: Behaviour = succeed,
        quit_when_idle: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.sfn, self.activity_arn, self.behaviour = sfn, activity_arn, behaviour
        self.quit_when_idle = quit_when_idle
        self.tasks: list[dict[str, Any]] = []
        self.empty_polls = 0
        self.ended_empty = False
        self.last_wait = 0.0
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                task = self.sfn.get_activity_task(
                    activityArn=self.activity_arn, workerName="local"
                )
            except Exception as error:  # pylint: disable=broad-except
                self.errors.append(repr(error))
                return
            self.last_wait = time.monotonic() - started
            token = task.get("taskToken")
            if not token:
                self.empty_polls += 1
                if self.quit_when_idle:
                    self.ended_empty = True
                    return
                continue
            given = json.loads(task["input"])
            self.tasks.append(given)
            try:
                self.behaviour(self.sfn, token, given)
            except Exception as error:  # pylint: disable=broad-except
                self.errors.append(f"{given['taskName']}: {error!r}")
