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
history walker giving the completed steps. The machines, the walker, the history pager
and the stand-in runner are ported once, in inframock/testing/pipeline_shapes.py
(shared with tests/stack/test_stepfunctions.py and `make bench`).
`scripts/cellenics_current/` runs the API's real code the same way, by hand.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any, Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from inframock.testing.harness import Deliveries, RunningStack, base_env, wait_until
from inframock.testing.pipeline_shapes import (
    ACCOUNT,
    ENV,
    QC_STATES,
    QC_STEPS,
    REGION,
    ROLE,
    TOPIC_ARN,
    AnswerAsR,
    StandInRunner,
    history,
    history_pages,
    qc_input,
    qc_machine,
    steps_from_history,
)

pytestmark = pytest.mark.slow

POLL_SECONDS = 8
"""GetActivityTask's long poll in these tests (AWS and the default: 60 s)."""


def qc_definition(
    activity_arn: str, experiment_id: str, rerun: bool = False
) -> dict[str, Any]:
    """What getQcPipelineSkeleton + buildStateMachineDefinition build in development:
    every QC step, or (a re-run after a clustering change) ConfigureEmbedding alone."""
    return qc_machine(
        activity_arn,
        TOPIC_ARN,
        "https://api.localhost:5000",
        experiment_id,
        steps=("ConfigureEmbedding",) if rerun else QC_STATES,
    )


def runner_as_r(
    stack: RunningStack, activity_arn: str, fail: str = ""
) -> StandInRunner:
    """init-functions.R init(): poll, heartbeat, answer (SendTaskFailure for the task
    named `fail`); quit at an empty poll."""
    return StandInRunner(
        _long_poll_client(stack), activity_arn, AnswerAsR(fail), quit_when_idle=True
    )


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
            roleArn=ROLE,
            definition=json.dumps(qc_definition(activity_arn, experiment, rerun)),
            loggingConfiguration={"level": "OFF"},
            tags=[{"key": "experimentId", "value": experiment}],
            type="STANDARD",
        )["stateMachineArn"]
    )


def execute(sfn: Any, machine: str, sample_ids: list[str]) -> str:
    """utils.js executeStateMachine with createQCPipeline's input."""
    return str(
        sfn.start_execution(stateMachineArn=machine, input=qc_input(sample_ids))[
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
    runner: StandInRunner,
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

    try:
        wait_until(ended, timeout, "the execution to end")
    except AssertionError as late:
        last = [e["type"] for e in history(sfn, execution)][-6:]
        raise AssertionError(
            f"{late}; runner: {len(runner.tasks)} tasks, ended idle "
            f"{runner.ended_empty}; the history ends {last}"
        ) from None
    assert not (strict and runner.errors), runner.errors
    return found


def test_qc_run_reads_back_as_the_api_reads_it(stack: RunningStack) -> None:
    """Three samples: tasks answered, SUCCEEDED, the walker gives the 7 QC steps."""
    activity_arn, execution, sample_ids = start_qc(stack, samples=3)
    runner = runner_as_r(stack, activity_arn)
    runner.start()
    described = wait_for_end(stack, execution, runner, timeout=120)
    assert described["status"] == "SUCCEEDED", described
    assert described["startDate"] <= described["stopDate"]

    # What R's wrapper() and call_qc() read from each task's input.
    per_sample = [t for t in runner.tasks if t["sampleUuid"]]
    assert len(runner.tasks) == 5 * 3 + 2, runner.tasks
    assert sorted({t["sampleUuid"] for t in per_sample}) == sorted(sample_ids)
    assert [t["taskName"] for t in runner.tasks[-2:]] == [
        "dataIntegration",
        "configureEmbedding",
    ]
    for task in runner.tasks:
        assert task["processName"] == "qc" and task["server"] == "host.docker.internal"
        assert task["authJWT"] == "Bearer local-jwt" and task["config"] == {
            "enabled": True
        }

    sfn = stack.client("stepfunctions")
    events, pages = history_pages(sfn, execution, page=10)
    assert pages > 1, "GetExecutionHistory ignored maxResults / never paged"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types.count("ActivitySucceeded") == 17
    assert types.count("MapIterationStarted") == 15
    started = [e for e in events if e["type"] == "MapStateStarted"]
    assert [e["mapStateStartedEventDetails"]["length"] for e in started] == [3] * 5
    assert steps_from_history(events) == list(QC_STEPS)
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
    runner = runner_as_r(stack, activity_arn, fail="mitochondrialContent")
    runner.start()
    described = wait_for_end(stack, execution, runner, timeout=120, strict=False)
    assert described["status"] == "FAILED", described

    events = history(stack.client("stepfunctions"), execution, page=100)
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
    assert steps_from_history(events) == list(QC_STEPS[:2])


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
        roleArn=ROLE,
    )
    described = json.loads(
        sfn.describe_state_machine(stateMachineArn=machine)["definition"]
    )
    assert list(described["States"]) == list(new["States"])
    execution = execute(sfn, machine, samples)
    runner = runner_as_r(stack, activity_arn)
    runner.start()
    assert wait_for_end(stack, execution, runner, timeout=60)["status"] == "SUCCEEDED"
    assert [t["taskName"] for t in runner.tasks] == ["configureEmbedding"]
    events = history(sfn, execution, page=100)
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
    runner = runner_as_r(stack, activity_arn, fail="classifier")
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
