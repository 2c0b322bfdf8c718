"""Today's Cellenics QC run as the API builds it and the R runner answers it.

The contract issue 12's Step Functions must keep, over the wire, taken from the
clients' own code (API hms-dbmi-cellenics/api 4507bc93, pipeline 81f42feb): the state
machine is the one `pipelineConstruct` builds in development (`skeletons/index.js`,
`qcPipelineSkeleton.js`, `constructors/*.js`: two `lambda:invoke` launcher states, five
`Map`s over `$.samples` with one activity Task each, `DataIntegration`,
`ConfigureEmbedding`, `EndOfPipeline`, `HandleError` publishing with `States.Format`,
`MarkAsFailed`); the stand-in runner makes `pipeline-runner/R/init-functions.R`'s calls
(GetActivityTask long poll, heartbeat, SendTaskSuccess with output "{}",
SendTaskFailure); and the run is read back as `getPipelineStatus.js` does:
DescribeExecution, GetExecutionHistory paged with `includeExecutionData: false`, and its
history walker (ported below) giving the completed steps. `scripts/cellenics_current/`
runs the API's real code the same way, by hand.

Fails on main until the Step Functions work of issue 12 (branch sfn12) lands.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from typing import Any, Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from inframock.testing.harness import Deliveries, RunningStack, base_env, wait_until

REGION, ACCOUNT, ENV, SANDBOX = "eu-west-1", "000000000000", "development", "default"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:work-results-{ENV}-{SANDBOX}-v2"
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
QC_STEPS = [task for _, task, _ in FILTERS] + ["DataIntegration", "ConfigureEmbedding"]
"""What getPipelineStatus reports for a whole QC run (its completedSteps)."""

POLL_SECONDS = 8
"""GetActivityTask's long poll in these tests (AWS and the default: 60 s)."""

REPORTED_STEPS = set(QC_STEPS)
"""getPipelineStepNames(): the steps the walker may report (launcher states are not)."""


def catch() -> list[dict[str, Any]]:
    """createHandleErrorStep.js createCatchSteps()."""
    return [
        {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.errorInfo",
            "Next": "HandleError",
        }
    ]


def activity_task(
    activity_arn: str, experiment_id: str, task: str, per_sample: bool, nxt: str | None
) -> dict[str, Any]:
    """createNewStep.js with getGeneralParams + getQCParams."""
    params: dict[str, Any] = {  # projectId is undefined in the context: JSON drops it
        "experimentId": experiment_id,
        "taskName": task,
        "processName": "qc",
        "server": "host.docker.internal",
        "ignoreSslCert": False,
        **({"sampleUuid.$": "$.sampleUuid"} if per_sample else {"sampleUuid": ""}),
        "uploadCountMatrix": task == "dataIntegration",
        "authJWT": "Bearer local-jwt",
        "config": {"enabled": True},
        "clusteringShouldRun": True,
        "metadataS3Path": None,
    }
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": activity_arn,
        "ResultPath": None,
        "TimeoutSeconds": 21600,
        "HeartbeatSeconds": 360,
        "Parameters": params,
    }
    state.update({"Next": nxt} if nxt else {"End": True})
    if not per_sample:
        state["Catch"] = catch()
    return state


def qc_definition(
    activity_arn: str, experiment_id: str, rerun: bool = False
) -> dict[str, Any]:
    """What getQcPipelineSkeleton + buildStateMachineDefinition build in development:
    every QC step, or (a re-run after a clustering change) ConfigureEmbedding alone."""
    lam = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
    states: dict[str, Any] = {
        "DeleteCompletedPipelineWorker": {
            "Next": "LaunchNewPipelineWorker",
            "ResultPath": None,
            "Type": "Task",
            "Comment": (
                "Removes Docker containers with pipeline runs on the local machine."
            ),
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": f"{lam}:remove-previous-pipeline-containers"
            },
        },
        "LaunchNewPipelineWorker": {
            "Next": "ConfigureEmbedding" if rerun else FILTERS[0][0],
            "ResultPath": None,
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": f"{lam}:local-container-launcher",
                "Payload": {
                    "image": "biomage-pipeline-runner",
                    "name": "qc-runner",
                    "detached": True,
                    "activityArn": activity_arn,
                },
            },
            "Catch": catch(),
        },
    }
    for i, (map_name, task_state, task) in enumerate(() if rerun else FILTERS):
        nxt = FILTERS[i + 1][0] if i + 1 < len(FILTERS) else "DataIntegration"
        states[map_name] = {
            "Type": "Map",
            "Next": nxt,
            "ResultPath": None,
            "ItemsPath": "$.samples",
            "Iterator": {
                "StartAt": task_state,
                "States": {
                    task_state: activity_task(
                        activity_arn, experiment_id, task, True, None
                    )
                },
            },
            "Catch": catch(),
        }
    if not rerun:
        states["DataIntegration"] = activity_task(
            activity_arn, experiment_id, "dataIntegration", False, "ConfigureEmbedding"
        )
    states["ConfigureEmbedding"] = activity_task(
        activity_arn, experiment_id, "configureEmbedding", False, "EndOfPipeline"
    )
    error = json.dumps(
        {
            "taskName": "pipelineError",
            "experimentId": experiment_id,
            "apiUrl": "https://api.localhost:5000",
            "input": {
                "authJWT": "Bearer local-jwt",
                "experimentId": experiment_id,
                "error": "INPUT_PLACEHOLDER",
                "taskName": "pipelineError",
                "sandboxId": SANDBOX,
                "activityId": activity_arn.split(":")[-1],
                "processName": "qc",
            },
        },
        separators=(",", ":"),
    )
    error = error.replace("{", "\\{").replace("}", "\\}")
    error = error.replace('"INPUT_PLACEHOLDER"', '"{}"')
    states["HandleError"] = {
        "Next": "MarkAsFailed",
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": TOPIC_ARN,
            "Message.$": f"States.Format('{error}', $.errorInfo.Error)",
            "MessageAttributes": {
                "type": {"DataType": "String", "StringValue": "PipelineResponse"}
            },
        },
    }
    states["MarkAsFailed"] = {"Type": "Fail"}
    states["EndOfPipeline"] = {"Type": "Pass", "End": True}
    return {
        "Comment": f"QC Pipeline for clusterEnv '{ENV}'",
        "StartAt": "DeleteCompletedPipelineWorker",
        "States": states,
    }


class Branch:  # pylint: disable=too-few-public-methods
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

    def update(self, event: dict[str, Any]) -> None:
        """updateCurrentState: the JS tests `'stateEnteredEventDetails' in event`."""
        if "stateEnteredEventDetails" in event:
            self.current_state = event["stateEnteredEventDetails"]["name"]

    def next_consumer(self, event: dict[str, Any]) -> Branch | None:
        """nextConsumer."""
        if event.get("previousEventId") in self.visited:
            return self
        if event["type"] == "MapStateExited":
            return self
        for branch in self.branches.values():
            found = branch.next_consumer(event)
            if found:
                return found
        return None

    def consume(self, event: dict[str, Any]) -> None:
        """consume."""
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


def steps_from_history(events: list[dict[str, Any]]) -> list[str]:
    """The completed steps the API reports; fails where the JS would throw."""
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
    if main.branch_count == len(main.branches):
        for branch in main.branches.values():
            if shortest is None or len(branch.completed) < len(shortest):
                shortest = branch.completed
    return [s for s in (shortest or []) + main.completed if s in REPORTED_STEPS]


def history(
    sfn: Any, execution_arn: str, page: int
) -> tuple[list[dict[str, Any]], int]:
    """getExecutionHistory as the API pages it; the events and how many pages."""
    events: list[dict[str, Any]] = []
    token, pages = None, 0
    while True:
        args: dict[str, Any] = {
            "executionArn": execution_arn,
            "includeExecutionData": False,
            "maxResults": page,
        }
        if token:
            args["nextToken"] = token
        answer = sfn.get_execution_history(**args)
        events += answer["events"]
        pages += 1
        token = answer.get("nextToken")
        if not token:
            return events, pages


class Runner(threading.Thread):
    """init-functions.R init(): poll, heartbeat, answer; stop at an empty poll."""

    def __init__(self, stack: RunningStack, activity_arn: str, fail: str = "") -> None:
        super().__init__(daemon=True)
        self.sfn = _long_poll_client(stack)
        self.activity_arn, self.fail = activity_arn, fail
        self.inputs: list[dict[str, Any]] = []
        self.last_wait = 0.0
        self.ended_empty = False
        self.errors: list[str] = []
        self.heartbeat_errors: list[str] = []

    def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                answer = self.sfn.get_activity_task(
                    activityArn=self.activity_arn, workerName="local"
                )
            except Exception as error:  # pylint: disable=broad-except
                self.errors.append(repr(error))
                return
            self.last_wait = time.monotonic() - started
            if not answer.get("taskToken"):
                self.ended_empty = True
                return
            task = json.loads(answer["input"])
            self.inputs.append(task)
            try:
                self.answer(answer["taskToken"], task)
            except Exception as error:  # pylint: disable=broad-except
                self.errors.append(f"{task['taskName']}: {error!r}")

    def answer(self, token: str, task: dict[str, Any]) -> None:
        """Heartbeat, then SendTaskSuccess (SendTaskFailure for the failing task). As in
        R, where the heartbeat is a process of its own, a failed beat only ends beating.
        """
        try:
            self.sfn.send_task_heartbeat(taskToken=token)
        except ClientError as error:
            self.heartbeat_errors.append(f"{task['taskName']}: {error!r}")
        if task["taskName"] == self.fail:
            self.sfn.send_task_failure(
                taskToken=token,
                error="We had an issue while processing your data.",
                cause=f"R error at filter step {task['taskName']}! : boom",
            )
        else:
            self.sfn.send_task_success(taskToken=token, output="{}")


def _long_poll_client(stack: RunningStack) -> Any:
    """A Step Functions client outwaiting the 60 s long poll (AWS advises 65 s+)."""
    import boto3  # pylint: disable=import-outside-toplevel

    return boto3.client(
        "stepfunctions",
        endpoint_url=stack.endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(read_timeout=70, retries={"max_attempts": 1}),
    )


@pytest.fixture(name="stack", scope="module")
def stack_fixture(
    tmp_path_factory: pytest.TempPathFactory, deliveries: Deliveries
) -> Iterator[RunningStack]:
    """One `current` stack for the module (each test makes its own activity and
    machine); its launcher command does nothing (the tests poll the activities); the
    stand-in API at BIOMAGE_API_URL records what the relay delivers."""
    tmp = tmp_path_factory.mktemp("pipeline-contract")
    (tmp / "data").mkdir()
    env = base_env(
        tmp,
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_PIPELINE_COMMAND=f"{sys.executable} -c pass",
        INFRAMOCK_ACTIVITY_POLL_SECONDS=str(POLL_SECONDS),
        INFRAMOCK_RELAY_DELAYS="1,2",
        BIOMAGE_API_URL=deliveries.url,
    )
    stack = RunningStack(env).wait_ready()
    yield stack
    stack.stop()


def create_machine(
    sfn: Any, name: str, activity_arn: str, experiment: str, rerun: bool = False
) -> str:
    """utils.js createNewStateMachine's CreateStateMachine call."""
    return str(
        sfn.create_state_machine(
            name=name,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/state-machine-role-{ENV}",
            definition=json.dumps(qc_definition(activity_arn, experiment, rerun)),
            loggingConfiguration={"level": "OFF"},
            tags=[{"key": "experimentId", "value": experiment}],
            type="STANDARD",
        )["stateMachineArn"]
    )


def execute(sfn: Any, machine: str, sample_ids: list[str]) -> str:
    """utils.js executeStateMachine with createQCPipeline's input."""
    execution_input = {
        "samples": [{"sampleUuid": s, "index": i} for i, s in enumerate(sample_ids)],
        "retries": ["retry"],
    }
    return str(
        sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input))[
            "executionArn"
        ]
    )


def start_qc(stack: RunningStack, samples: int) -> tuple[str, str, list[str]]:
    """createActivity, createNewStateMachine, executeStateMachine as the API does."""
    sfn = stack.client("stepfunctions")
    experiment = str(uuid.uuid4())
    name = f"pipeline-{ENV}-{uuid.uuid4()}"
    activity_arn = sfn.create_activity(name=name)["activityArn"]
    assert activity_arn == f"arn:aws:states:{REGION}:{ACCOUNT}:activity:{name}"
    machine = create_machine(
        sfn, f"biomage-qc-{ENV}-{uuid.uuid4().hex}", activity_arn, experiment
    )
    sample_ids = [str(uuid.uuid4()) for _ in range(samples)]
    return activity_arn, execute(sfn, machine, sample_ids), sample_ids


def wait_for_end(
    stack: RunningStack,
    execution: str,
    runner: Runner,
    timeout: float,
    strict: bool = True,
) -> dict[str, Any]:
    """DescribeExecution until the execution is no longer RUNNING; if `strict` (a run
    that should succeed), fail at once when a runner call failed."""
    sfn = stack.client("stepfunctions")
    found: dict[str, Any] = {}

    def ended() -> bool:
        found.update(sfn.describe_execution(executionArn=execution))
        return found["status"] != "RUNNING" or (strict and bool(runner.errors))

    wait_until(ended, timeout, "the execution to end")
    assert not (strict and runner.errors), runner.errors
    return found


def test_qc_run_reads_back_as_the_api_reads_it(stack: RunningStack) -> None:
    """Three samples: tasks answered, SUCCEEDED, the walker gives the 7 QC steps."""
    activity_arn, execution, sample_ids = start_qc(stack, samples=3)
    runner = Runner(stack, activity_arn)
    runner.start()
    described = wait_for_end(stack, execution, runner, timeout=120)
    assert described["status"] == "SUCCEEDED", described
    assert described["startDate"] <= described["stopDate"]

    # What R's wrapper() and call_qc() read from each task's input.
    per_sample = [t for t in runner.inputs if t["sampleUuid"]]
    assert len(runner.inputs) == 5 * 3 + 2, runner.inputs
    assert sorted({t["sampleUuid"] for t in per_sample}) == sorted(sample_ids)
    assert [t["taskName"] for t in runner.inputs[-2:]] == [
        "dataIntegration",
        "configureEmbedding",
    ]
    for task in runner.inputs:
        assert task["processName"] == "qc" and task["server"] == "host.docker.internal"
        assert task["authJWT"] == "Bearer local-jwt" and task["config"] == {
            "enabled": True
        }

    sfn = stack.client("stepfunctions")
    events, pages = history(sfn, execution, page=10)
    assert pages > 1, "GetExecutionHistory ignored maxResults / never paged"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types.count("ActivitySucceeded") == 17
    assert types.count("MapIterationStarted") == 15
    started = [e for e in events if e["type"] == "MapStateStarted"]
    assert [e["mapStateStartedEventDetails"]["length"] for e in started] == [3] * 5
    assert steps_from_history(events) == QC_STEPS
    assert not any(e["type"] == "ActivityFailed" for e in events)  # checkError: false

    # R quits on an empty token: that answer must come from a long poll, not at once
    # (else the runner would quit before the launcher's first task is scheduled).
    runner.join(timeout=POLL_SECONDS + 20)
    assert runner.ended_empty and not runner.errors, runner.errors
    assert runner.last_wait > POLL_SECONDS - 2, runner.last_wait


def test_failed_task_reads_back_as_the_api_reads_it(stack: RunningStack) -> None:
    """SendTaskFailure on every sample's third filter: HandleError publishes, FAILED,
    checkError finds R's error, the walker reports the two filters done before it."""
    sqs = stack.client("sqs")
    queue = sqs.create_queue(QueueName="handle-error-seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    stack.client("sns").subscribe(
        TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=queue_arn
    )
    activity_arn, execution, _ = start_qc(stack, samples=2)
    runner = Runner(stack, activity_arn, fail="mitochondrialContent")
    runner.start()
    described = wait_for_end(stack, execution, runner, timeout=120, strict=False)
    assert described["status"] == "FAILED", described

    events, _ = history(stack.client("stepfunctions"), execution, page=100)
    failed = [e for e in events if e["type"] == "ActivityFailed"]
    assert failed, [e["type"] for e in events]
    assert failed[-1]["activityFailedEventDetails"] == {
        "error": "We had an issue while processing your data.",
        "cause": "R error at filter step mitochondrialContent! : boom",
    }
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in events
        if "stateEnteredEventDetails" in e
    ]
    assert entered[-2:] == ["HandleError", "MarkAsFailed"], entered
    # HandleError's States.Format message, as handleQCResponse gets it (via the relay).
    got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get("Messages", [])
    assert len(got) == 1, got
    envelope = json.loads(got[0]["Body"])
    assert envelope["MessageAttributes"]["type"]["Value"] == "PipelineResponse"
    message = json.loads(envelope["Message"])
    assert message["taskName"] == "pipelineError"
    assert message["input"]["error"] == "We had an issue while processing your data."
    assert message["input"]["activityId"] == activity_arn.split(":")[-1]
    assert steps_from_history(events) == QC_STEPS[:2]


def test_rerun_updates_the_state_machine(stack: RunningStack) -> None:
    """createNewStateMachine on a re-run: the per-experiment name exists with another
    definition, so CreateStateMachine must raise StateMachineAlreadyExists (the API then
    calls UpdateStateMachine); the next execution runs the new definition."""
    sfn = stack.client("stepfunctions")
    experiment, samples = str(uuid.uuid4()), [str(uuid.uuid4())]
    activity_arn = sfn.create_activity(name=f"pipeline-{ENV}-{uuid.uuid4()}")[
        "activityArn"
    ]
    name = f"biomage-qc-{ENV}-{uuid.uuid4().hex}"
    machine = create_machine(sfn, name, activity_arn, experiment)
    assert create_machine(sfn, name, activity_arn, experiment) == machine  # idempotent
    with pytest.raises(ClientError) as raised:
        create_machine(sfn, name, activity_arn, experiment, rerun=True)
    assert raised.value.response["Error"]["Code"] == "StateMachineAlreadyExists"

    new = qc_definition(activity_arn, experiment, rerun=True)
    sfn.update_state_machine(
        stateMachineArn=machine,
        definition=json.dumps(new),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/state-machine-role-{ENV}",
    )
    described = json.loads(
        sfn.describe_state_machine(stateMachineArn=machine)["definition"]
    )
    assert list(described["States"]) == list(new["States"])
    execution = execute(sfn, machine, samples)
    runner = Runner(stack, activity_arn)
    runner.start()
    assert wait_for_end(stack, execution, runner, timeout=60)["status"] == "SUCCEEDED"
    assert [t["taskName"] for t in runner.inputs] == ["configureEmbedding"]
    events, _ = history(sfn, execution, page=100)
    assert steps_from_history(events) == ["ConfigureEmbedding"]


def test_closed_task_token_answers_task_timed_out(stack: RunningStack) -> None:
    """R's heartbeat loop (init-functions.R pipeline_heartbeat) ends only when a beat
    fails: once the task is answered, its token must answer TaskTimedOut as in AWS."""
    activity_arn, _, _ = start_qc(stack, samples=1)
    sfn = _long_poll_client(stack)
    token = sfn.get_activity_task(activityArn=activity_arn, workerName="local")[
        "taskToken"
    ]
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output="{}")
    for call in (
        lambda: sfn.send_task_heartbeat(taskToken=token),
        lambda: sfn.send_task_success(taskToken=token, output="{}"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "TaskTimedOut"


def test_handle_error_reaches_the_local_api(
    stack: RunningStack, deliveries: Deliveries
) -> None:
    """HandleError's message carries the API's development publicApiUrl
    (`https://api.localhost:5000`, createHandleErrorStep.js): the relay must still
    get it to the local API (BIOMAGE_API_URL), or no failure reaches the UI."""
    activity_arn, execution, _ = start_qc(stack, samples=1)
    runner = Runner(stack, activity_arn, fail="classifier")
    runner.start()
    assert (
        wait_for_end(stack, execution, runner, 60, strict=False)["status"] == "FAILED"
    )

    activity_id = activity_arn.split(":")[-1]

    def delivered() -> list[dict[str, Any]]:
        found = []
        for path, _, body in list(deliveries.received):
            if path == "/v2/pipelineResults":
                message = json.loads(json.loads(body)["Message"])
                if message["input"].get("activityId") == activity_id:
                    found.append(message)
        return found

    wait_until(delivered, 20, "the pipelineError at BIOMAGE_API_URL")
    assert delivered()[0]["taskName"] == "pipelineError"
