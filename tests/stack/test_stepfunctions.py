"""Today's Cellenics pipeline runs on the `current` stack: executions, activities
and the launcher, over the wire.

The API's state machines (inframock/testing/pipeline_shapes.py, built from its code) run
to the end with a stand-in runner polling activities with boto3: success with
a Map over three samples, a failure that HandleError publishes through the
relay, a heartbeat timeout; the history is read back as getPipelineStatus
reads it. The launcher is checked with a stand-in `docker` on PATH, with
INFRAMOCK_PIPELINE_COMMAND, and with neither. The last tests tell when a new
moto no longer needs inframock/engine/stepfunctions/executions.py.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest
from botocore.exceptions import ClientError

from inframock.testing.harness import (
    RunningStack,
    base_env,
    standalone_moto,
    wait_until,
)
from inframock.testing.pipeline_shapes import (
    QC_STEPS,
    REGION,
    ROLE,
    TOPIC_ARN,
    StandInRunner,
    check_error,
    fail_as_r,
    gem2s_machine,
    history,
    qc_input,
    qc_machine,
    steps_from_history,
)
from tests.helpers import remote_client
from tests.stack.test_cellenics_current import Receiver

pytestmark = pytest.mark.slow

POLL = "2"
"""GetActivityTask's long poll in these stacks (AWS: 60 s)."""
STANDIN_DOCKER = """#!/bin/sh
printf '%s\\n' "$*" >> "$STANDIN_DOCKER_LOG"
"""


@pytest.fixture(scope="module", name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    """The API: where HandleError's message is relayed to."""
    server = Receiver()
    yield server
    server.close()


def standin_docker(folder: Path) -> Path:
    """A stand-in `docker` in `folder`/bin recording its arguments; the file
    it writes (STANDIN_DOCKER_LOG), beside that bin."""
    script = folder / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(STANDIN_DOCKER)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder / "docker.log"


@pytest.fixture(scope="module", name="docker_log")
def docker_log_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in `docker` for the module's stack; the file it writes."""
    return standin_docker(tmp_path_factory.mktemp("standin-docker"))


@pytest.fixture(scope="module", name="stack")
def stack_fixture(
    tmp_path_factory: pytest.TempPathFactory, docker_log: Path, receiver: Receiver
) -> Iterator[RunningStack]:
    """A `current` stack whose launcher finds the stand-in `docker` first."""
    tmp = tmp_path_factory.mktemp("sfn")
    (tmp / "data").mkdir()
    env = base_env(
        tmp,
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_RELAY_DELAYS="0.2,1",
        INFRAMOCK_ACTIVITY_POLL_SECONDS=POLL,
        PATH=f"{docker_log.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
        STANDIN_DOCKER_LOG=str(docker_log),
        BIOMAGE_API_URL=receiver.url,
    )
    stack = RunningStack(env).wait_ready()
    yield stack
    stack.stop()


def start(
    stack: RunningStack, machine: dict[str, Any], name: str, run_input: str = "{}"
) -> str:
    """CreateActivity-less: create the state machine and start it; the ARN."""
    sfn = stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=name, definition=json.dumps(machine), roleArn=ROLE, type="STANDARD"
    )["stateMachineArn"]
    return str(
        sfn.start_execution(stateMachineArn=arn, input=run_input)["executionArn"]
    )


def activity(stack: RunningStack, name: str) -> str:
    """CreateActivity as the API does (`pipeline-development-<uuid>`)."""
    sfn = stack.client("stepfunctions")
    return str(sfn.create_activity(name=f"pipeline-development-{name}")["activityArn"])


def finished(
    stack: RunningStack, execution_arn: str, timeout: float = 30
) -> dict[str, Any]:
    """DescribeExecution once the execution has ended."""
    sfn = stack.client("stepfunctions")
    wait_until(
        lambda: sfn.describe_execution(executionArn=execution_arn)["status"]
        != "RUNNING",
        timeout,
        f"{execution_arn} to end",
    )
    return dict(sfn.describe_execution(executionArn=execution_arn))


def test_a_qc_run_maps_three_samples_and_reports_its_steps(
    stack: RunningStack, docker_log: Path
) -> None:
    arn = activity(stack, "qc-success")
    machine = qc_machine(arn, TOPIC_ARN, "http://127.0.0.1:9", "exp-qc")
    execution = start(
        stack, machine, "biomage-qc-development-success", qc_input(["s1", "s2", "s3"])
    )
    runner = StandInRunner(stack.client("stepfunctions"), arn)
    runner.start()
    try:
        assert finished(stack, execution)["status"] == "SUCCEEDED"
    finally:
        runner.stopping.set()
    names = [task["taskName"] for task in runner.tasks]
    assert names == ["classifier"] * 3 + ["dataIntegration", "configureEmbedding"]
    assert sorted(t["sampleUuid"] for t in runner.tasks[:3]) == ["s1", "s2", "s3"]
    assert runner.tasks[3]["sampleUuid"] == "" and runner.tasks[3]["uploadCountMatrix"]
    sfn = stack.client("stepfunctions")
    events = history(sfn, execution, page=7)  # paged as the API pages
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert history(sfn, execution) == events
    kinds = [e["type"] for e in events]
    started = next(e for e in events if e["type"] == "MapStateStarted")
    assert started["mapStateStartedEventDetails"]["length"] == 3
    indexes = [
        e["mapIterationStartedEventDetails"]["index"]
        for e in events
        if e["type"] == "MapIterationStarted"
    ]
    assert sorted(indexes) == [0, 1, 2]
    assert kinds.count("ActivitySucceeded") == 5 and "MapStateExited" in kinds
    assert kinds.count("TaskSucceeded") == 2  # the two lambda:invoke states
    assert steps_from_history(events, QC_STEPS) == [
        "ClassifierFilter",
        "DataIntegration",
        "ConfigureEmbedding",
    ]
    assert check_error(events) is False
    recorded = docker_log.read_text().splitlines()
    assert any(line.startswith("ps -f name=qc|gem2s|obj2s") for line in recorded)
    run = next(line for line in recorded if line.startswith("run "))
    assert (
        f"--env ACTIVITY_ARN={arn}" in run
        and "--env AWS_DEFAULT_REGION=eu-west-1" in run
    )
    assert "--env HOST_IP=" in run and "--env SANDBOX_ID=default" in run
    assert " -d " in run and "--name qc-runner-" in run
    assert run.endswith(" biomage-pipeline-runner")


def test_a_failed_task_goes_through_handle_error_to_the_api(
    stack: RunningStack, receiver: Receiver
) -> None:
    arn = activity(stack, "gem2s-failure")
    # The API's development publicApiUrl: the relay sends it to BIOMAGE_API_URL.
    machine = gem2s_machine(arn, TOPIC_ARN, "https://api.localhost:5000", "exp-fail")
    execution = start(stack, machine, "biomage-gem2s-development-failure")
    runner = StandInRunner(stack.client("stepfunctions"), arn, fail_as_r)
    runner.start()
    try:
        described = finished(stack, execution)
    finally:
        runner.stopping.set()
    assert described["status"] == "FAILED"
    events = history(stack.client("stepfunctions"), execution)
    assert check_error(events) == {
        "error": "We had an issue while processing your data.",
        "cause": "R error at filter step downloadGem! : boom",
    }
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in events
        if "stateEnteredEventDetails" in e
    ]
    assert entered[-3:] == ["DownloadGem", "HandleError", "MarkAsFailed"]
    wait_until(
        lambda: "/v2/pipelineResults" in receiver.paths(), 20, "the relayed error"
    )
    _, headers, body = next(
        r for r in receiver.received if r[0] == "/v2/pipelineResults"
    )
    assert headers["x-amz-sns-topic-arn"] == TOPIC_ARN
    message = json.loads(json.loads(body)["Message"])
    assert message["input"]["error"] == "We had an issue while processing your data."
    assert message["input"]["processName"] == "gem2s"
    assert message["apiUrl"] == "https://api.localhost:5000"
    assert message["experimentId"] == "exp-fail"


def test_a_failed_map_iteration_aborts_the_others_and_reads_back(
    stack: RunningStack,
) -> None:
    arn = activity(stack, "qc-map-failure")
    machine = qc_machine(arn, TOPIC_ARN, "http://127.0.0.1:9", "exp-map-fail")
    taken: list[str] = []

    def fail_first(sfn: Any, token: str, _: dict[str, Any]) -> None:
        # Fail the first only once all three hold a task: an iteration that has
        # not started yet when the Map fails is never started, not aborted.
        taken.append(token)
        if len(taken) == 3:
            sfn.send_task_failure(taskToken=taken[0], error="E1", cause="R error: bad")

    execution = start(
        stack, machine, "biomage-qc-development-map-failure", qc_input(["a", "b", "c"])
    )
    runner = StandInRunner(stack.client("stepfunctions"), arn, fail_first)
    runner.start()
    try:
        assert finished(stack, execution, timeout=20)["status"] == "FAILED"
    finally:
        runner.stopping.set()
    events = history(stack.client("stepfunctions"), execution)
    kinds = [e["type"] for e in events]
    # Every iteration has ended before the Map fails: one failed, two aborted.
    assert kinds.count("MapIterationFailed") == 1
    assert kinds.count("MapIterationAborted") == 2
    exited = kinds.index("MapStateExited")
    assert not {"MapIterationAborted", "MapIterationFailed", "ActivityStarted"} & set(
        kinds[exited:]
    )
    assert steps_from_history(events, QC_STEPS) == []  # the walker takes every event
    assert check_error(events) == {"error": "E1", "cause": "R error: bad"}
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in events
        if "stateEnteredEventDetails" in e
    ]
    assert entered[-2:] == ["HandleError", "MarkAsFailed"]
    sfn = stack.client("stepfunctions")
    for token in taken:  # answered or withdrawn: closed
        with pytest.raises(ClientError) as closed:
            sfn.send_task_heartbeat(taskToken=token)
        assert closed.value.response["Error"]["Code"] == "TaskTimedOut"
    assert not sfn.get_activity_task(activityArn=arn).get("taskToken")


def test_a_new_definition_under_an_existing_name_conflicts(stack: RunningStack) -> None:
    sfn = stack.client("stepfunctions")
    first = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    second = {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": True}}}
    name = "biomage-qc-development-rerun"
    arn = sfn.create_state_machine(
        name=name, definition=json.dumps(first), roleArn=ROLE
    )["stateMachineArn"]
    again = sfn.create_state_machine(
        name=name, definition=json.dumps(first), roleArn=ROLE
    )["stateMachineArn"]
    assert again == arn  # the same definition: idempotent
    with pytest.raises(ClientError) as conflict:
        sfn.create_state_machine(name=name, definition=json.dumps(second), roleArn=ROLE)
    assert conflict.value.response["Error"]["Code"] == "StateMachineAlreadyExists"
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(second))
    assert json.loads(
        sfn.describe_state_machine(stateMachineArn=arn)["definition"]
    ) == (second)


def test_a_runner_that_stops_beating_times_out(stack: RunningStack) -> None:
    arn = activity(stack, "heartbeat")
    machine = gem2s_machine(
        arn, TOPIC_ARN, "http://127.0.0.1:9", "exp-beat", heartbeat=2
    )
    tokens: list[str] = []
    execution = start(stack, machine, "biomage-gem2s-development-heartbeat")
    runner = StandInRunner(
        stack.client("stepfunctions"), arn, lambda _, token, __: tokens.append(token)
    )
    runner.start()
    try:
        started = time.monotonic()
        assert finished(stack, execution)["status"] == "FAILED"
        assert time.monotonic() - started < 15
    finally:
        runner.stopping.set()
    events = history(stack.client("stepfunctions"), execution)
    timed_out = [e for e in events if e["type"] == "ActivityTimedOut"]
    assert len(timed_out) == 1
    assert timed_out[0]["activityTimedOutEventDetails"]["error"] == "States.Timeout"
    with pytest.raises(ClientError) as late:
        stack.client("stepfunctions").send_task_success(
            taskToken=tokens[0], output="{}"
        )
    assert late.value.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken")


def test_get_activity_task_waits_then_answers_an_empty_token(
    stack: RunningStack,
) -> None:
    arn = activity(stack, "idle")
    assert activity(stack, "idle") == arn  # CreateActivity is idempotent, as in AWS
    started = time.monotonic()
    answer = stack.client("stepfunctions").get_activity_task(activityArn=arn)
    waited = time.monotonic() - started
    assert not answer.get("taskToken")
    assert float(POLL) - 0.5 <= waited < float(POLL) + 3


def test_executions_are_visible_in_status_and_the_log(stack: RunningStack) -> None:
    arn = activity(stack, "visible")
    machine = gem2s_machine(arn, TOPIC_ARN, "http://127.0.0.1:9", "exp-visible")
    execution = start(stack, machine, "biomage-gem2s-development-visible")
    wait_until(
        lambda: any(
            "entered DownloadGem" in line and "visible" in line for line in stack.lines
        ),
        20,
        "the log line of DownloadGem",
    )
    status = stack.cli("status", "--json", INFRAMOCK_PROFILE="current")
    runs = json.loads(status.stdout)["pipeline_runs"]
    mine = next(r for r in runs if r["name"] == execution.rsplit(":", 1)[1])
    assert mine["status"] == "RUNNING" and mine["state"] == "DownloadGem"
    assert mine["state_machine"] == "biomage-gem2s-development-visible"
    text = stack.cli("status", "-v", INFRAMOCK_PROFILE="current").stdout
    assert "pipeline runs" in text and "DownloadGem" in text
    stack.client("stepfunctions").stop_execution(executionArn=execution)
    assert finished(stack, execution)["status"] == "ABORTED"
    aborted = history(stack.client("stepfunctions"), execution)[-1]
    assert aborted["type"] == "ExecutionAborted"
    prefix = "states biomage-gem2s-development-visible/"
    mine_lines = [line for line in stack.lines if prefix in line]
    assert any(
        line.endswith("entered DeleteCompletedPipelineWorker") for line in mine_lines
    )
    assert any(line.endswith("entered LaunchNewPipelineWorker") for line in mine_lines)
    wait_until(
        lambda: any(
            l.endswith("execution ABORTED") and prefix in l for l in stack.lines
        ),
        10,
        "the log line of the abort",
    )


LOCAL_RUNNER_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Description: CloudFormation for local testing of pipelines.
Resources:
  LambdaExecutionRole:
    Type: "AWS::IAM::Role"
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              Service: lambda.amazonaws.com
            Action: "sts:AssumeRole"
  LocalContainerLauncher:
    Type: "AWS::Lambda::Function"
    Properties:
      FunctionName: "local-container-launcher"
      Handler: "index.handler"
      Role: !GetAtt LambdaExecutionRole.Arn
      Code:
        ZipFile: |
          def handler(event, context):
            return 0
      Runtime: "python3.8"
      Timeout: 25
  QualityControlActivity:
    Type: AWS::StepFunctions::Activity
    Properties:
      Name: biomage-qc-activity-development
  RemovePreviousPipelineContainers:
    Type: "AWS::Lambda::Function"
    Properties:
      FunctionName: "remove-previous-pipeline-containers"
      Handler: "index.handler"
      Role: !GetAtt LambdaExecutionRole.Arn
      Code:
        ZipFile: |
          def handler(event, context):
            return 0
      Runtime: "python3.8"
      Timeout: 25
"""
"""The pipeline's local-runner/cf-local-container-launcher.yaml (81f42feb), its
handlers' bodies shortened: inframock never runs them."""


def test_launcher_functions_exist_and_local_runner_can_deploy_its_own(
    stack: RunningStack, docker_log: Path
) -> None:
    lam = stack.client("lambda")
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert {"remove-previous-pipeline-containers", "local-container-launcher"} <= names
    cfn = stack.client("cloudformation")  # what local-runner's initStack does
    cfn.create_stack(
        StackName="local-container-launcher",
        TemplateBody=LOCAL_RUNNER_TEMPLATE,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    cfn.get_waiter("stack_create_complete").wait(
        StackName="local-container-launcher", WaiterConfig={"Delay": 1}
    )
    answer = lam.invoke(
        FunctionName="local-container-launcher",
        Payload=json.dumps(
            {
                "image": "biomage-pipeline-runner:dev",
                "name": "gem2s-runner",
                "detached": False,
                "activityArn": "a",
            }
        ),
    )
    assert "FunctionError" not in answer
    assert "container" in json.loads(answer["Payload"].read())
    last = docker_log.read_text().splitlines()[-1]
    assert last.startswith("run --rm -t --name gem2s-runner-")
    assert last.endswith(" biomage-pipeline-runner:dev")
    assert " -d " not in last
    for event in ({"image": "alpine"}, {"image": "--privileged"}, {"name": "-x"}):
        refused = lam.invoke(
            FunctionName="local-container-launcher", Payload=json.dumps(event)
        )
        assert refused.get("FunctionError"), event  # any page may invoke it
        assert b"refused" in refused["Payload"].read()
        assert docker_log.read_text().splitlines()[-1] == last
    removed = lam.invoke(FunctionName="remove-previous-pipeline-containers")
    assert "FunctionError" not in removed
    assert docker_log.read_text().splitlines()[-1].startswith("ps -f name=")


def test_pipeline_command_runs_the_runner_and_dies_with_the_stack(
    make_stack: Any, tmp_path: Path
) -> None:
    record = tmp_path / "runner.jsonl"
    runner = Path(__file__).parent.parent / "pipeline_standin.py"
    stack = make_stack(
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_ACTIVITY_POLL_SECONDS=POLL,
        INFRAMOCK_PIPELINE_COMMAND=f"{sys.executable} {runner}",
        STANDIN_RECORD=str(record),
        PATH=os.path.dirname(sys.executable),  # no docker: the command is used
    ).wait_ready()
    arn = activity(stack, "command")
    machine = qc_machine(arn, TOPIC_ARN, "http://127.0.0.1:9", "exp-cmd")
    execution = start(
        stack, machine, "biomage-qc-development-command", qc_input(["a", "b", "c"])
    )
    assert finished(stack, execution)["status"] == "SUCCEEDED"
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    given = lines[0]
    assert given["ACTIVITY_ARN"] == arn and given["HOST_IP"] == "127.0.0.1"
    assert given["AWS_DEFAULT_REGION"] == REGION and given["SANDBOX_ID"] == "default"
    assert given["AWS_ENDPOINT_URL"] == stack.endpoint
    assert [line["task"] for line in lines[1:]] == (
        ["classifier"] * 3 + ["dataIntegration", "configureEmbedding"]
    )
    wait_until(
        lambda: any("exited with code 0" in line for line in stack.lines),
        float(POLL) + 15,
        "the runner to quit on an empty token\n"
        + "\n".join(l for l in stack.lines if "pipeline" in l or "Task" in l),
    )
    assert any("pipeline | task classifier" in line for line in stack.lines)
    # A runner that never ends is killed with the stack.
    pid_file = tmp_path / "pid"
    stack.stop()
    stack = make_stack(
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_PIPELINE_COMMAND=f"echo $$ > {pid_file}; exec sleep 300",
        PATH=os.path.dirname(sys.executable) + os.pathsep + "/bin:/usr/bin",
    ).wait_ready()
    arn = activity(stack, "forever")
    start(
        stack,
        qc_machine(arn, TOPIC_ARN, "x", "e"),
        "biomage-qc-development-f",
        qc_input(["a"]),
    )
    wait_until(
        lambda: pid_file.is_file() and pid_file.read_text().strip(), 20, "the runner"
    )
    pid = int(pid_file.read_text())
    assert psutil.pid_exists(pid)
    stack.stop()
    wait_until(lambda: not _alive(pid), 10, "the runner to be killed with the stack")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_2021_stack_loads_pipeline_runs_on_its_first_step_functions_call(
    make_stack: Any,
) -> None:
    """The 2021 profile does not load them at start (a second of start-up);
    its first Step Functions request must find them all the same."""
    stack = make_stack(INFRAMOCK_ACTIVITY_POLL_SECONDS=POLL).wait_ready()
    arn = activity(stack, "lazy")
    task = stack.client("stepfunctions").get_activity_task(activityArn=arn)
    assert task["taskToken"] == ""  # none waiting; moto alone has no such call


def test_the_runner_containers_are_killed_with_the_stack(
    make_stack: Any, tmp_path: Path
) -> None:
    log = standin_docker(tmp_path)
    stack = make_stack(
        INFRAMOCK_PROFILE="current",
        PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        STANDIN_DOCKER_LOG=str(log),
    ).wait_ready()
    arn = activity(stack, "killed")
    start(stack, qc_machine(arn, TOPIC_ARN, "x", "e"), "biomage-qc-development-k")
    wait_until(
        lambda: log.is_file() and "\nrun " in f"\n{log.read_text()}",
        20,
        "the launch",
    )
    name = next(
        line.split("--name ")[1].split()[0]
        for line in log.read_text().splitlines()
        if line.startswith("run ")
    )
    stack.stop()
    assert log.read_text().splitlines()[-1] == f"kill {name}"


def test_without_docker_or_command_the_launch_fails_saying_what_to_do(
    make_stack: Any, tmp_path: Path, receiver: Receiver
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    stack = make_stack(
        INFRAMOCK_PROFILE="current",
        INFRAMOCK_RELAY_DELAYS="0.2,1",
        PATH=f"{empty}{os.pathsep}{os.path.dirname(sys.executable)}",
    ).wait_ready()
    arn = activity(stack, "nothing")
    machine = qc_machine(arn, TOPIC_ARN, receiver.url, "exp-nothing")
    execution = start(stack, machine, "biomage-qc-development-nothing", qc_input(["a"]))
    assert finished(stack, execution)["status"] == "FAILED"
    events = history(stack.client("stepfunctions"), execution)
    failed = next(e for e in events if e["type"] == "TaskFailed")
    cause = failed["taskFailedEventDetails"]["cause"]
    assert "install Docker" in cause and "INFRAMOCK_PIPELINE_COMMAND" in cause
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in events
        if "stateEnteredEventDetails" in e
    ]
    assert entered == [
        "DeleteCompletedPipelineWorker",
        "LaunchNewPipelineWorker",
        "HandleError",
        "MarkAsFailed",
    ]
    wait_until(
        lambda: any(b"exp-nothing" in body for path, _, body in receiver.received),
        20,
        "the error relayed to the API",
    )


def _moto_config(endpoint: str) -> None:
    import requests  # pylint: disable=import-outside-toplevel

    requests.post(
        f"{endpoint}/moto-api/config",
        json={"stepfunctions": {"execute_state_machine": True}},
        timeout=10,
    ).raise_for_status()


def test_moto_still_lacks_get_activity_task() -> None:
    """When this fails, moto serves GetActivityTask: drop get_activity_task in
    inframock/engine/stepfunctions/executions.py."""
    with standalone_moto() as endpoint:
        _moto_config(endpoint)
        sfn = remote_client(endpoint, "stepfunctions")
        arn = sfn.create_activity(name="a")["activityArn"]
        with pytest.raises(ClientError):
            sfn.get_activity_task(activityArn=arn)


def test_moto_still_names_unnamed_executions_none() -> None:
    """When this fails, moto names unnamed executions itself: drop start_named
    in inframock/engine/stepfunctions/executions.py."""
    with standalone_moto() as endpoint:
        _moto_config(endpoint)
        sfn = remote_client(endpoint, "stepfunctions")
        machine = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
        arn = sfn.create_state_machine(
            name="m", definition=json.dumps(machine), roleArn=ROLE
        )["stateMachineArn"]
        first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        assert first.endswith(":None")
        with pytest.raises(ClientError) as second:
            sfn.start_execution(stateMachineArn=arn, input='{"another": 1}')
        assert second.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_moto_still_misreads_escaped_braces_and_reuses_machines() -> None:
    """When this fails, moto reads States.Format's `\\{` (drop the patch
    `sfn-format-escapes`) or refuses a new definition under an existing name
    (drop `sfn-machine-conflict`; both in
    inframock/engine/patches/stepfunctions.py)."""
    with standalone_moto() as endpoint:
        _moto_config(endpoint)
        sfn = remote_client(endpoint, "stepfunctions")
        template = 'States.Format(\'\\\\{"error":"{}"\\\\}\', $.e)'
        machine = {
            "StartAt": "P",
            "States": {
                "P": {"Type": "Pass", "Parameters": {"m.$": template}, "End": True}
            },
        }
        arn = sfn.create_state_machine(
            name="f", definition=json.dumps(machine), roleArn=ROLE
        )["stateMachineArn"]
        run = sfn.start_execution(stateMachineArn=arn, name="r", input='{"e": "x"}')
        wait_until(
            lambda: sfn.describe_execution(executionArn=run["executionArn"])["status"]
            != "RUNNING",
            20,
            "the format run",
        )
        described = sfn.describe_execution(executionArn=run["executionArn"])
        assert described["status"] == "FAILED"  # str.format on `{"error"...}`
        other = {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": True}}}
        again = sfn.create_state_machine(
            name="f", definition=json.dumps(other), roleArn=ROLE
        )["stateMachineArn"]
        assert again == arn  # AWS: StateMachineAlreadyExists
