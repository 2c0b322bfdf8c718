"""The patches applied on the engine's first Step Functions request.

They change moto's state machine interpreter (`inframock.engine.stepfunctions`
holds the replacements and says why), and importing the moto code they touch
costs start-up time and about 30 MB that a stack without pipeline runs never
needs (the 2021 profile; the `current` one until the API makes its first
state machine): so they are a stage of their own, applied after `at_start`'s,
in this order, and with them the `launcher` stage the interpreter invokes.
"""

from __future__ import annotations

from inframock.engine.patching import ABSENT, MOTO, Patch, Source, put, wrap

_SF = "inframock.engine.stepfunctions"
_SFN = "moto.stepfunctions.parser.models"
_SFN_BASE = "moto.stepfunctions.models"
_SFN_RESPONSES = "moto.stepfunctions.responses"
_CALLBACK = "moto.stepfunctions.parser.asl.eval.callback.callback"


_ACTIVITY_TASK = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task"
    ".state_task_activitiy"
)
_BATCH_TASK = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
    ".state_task_service_batch"
)


STEPFUNCTIONS: tuple[Patch, ...] = (
    Patch(  # no change of moto's code: `install` defers an import before it
        "sfn-batch-deferred",
        "no Batch and EC2 under the interpreter",
        MOTO,
        (),
        reads=(Source(_BATCH_TASK, "StateTaskServiceBatch", "f7a88192ad5e"),),
    ),
    Patch(
        "sfn-interpreter-on",
        "state machine executions run",
        MOTO,
        (
            wrap(
                "moto.core.config",
                "default_user_config",
                "d713337c17ee",
                f"{_SF}.executions:interpreter_on",
            ),
        ),
        reads=(Source(_SFN_RESPONSES, "get_backend", "e736380f7d9c"),),
    ),
    Patch(
        "sfn-shared-activities",
        "activity tasks reach workers (long poll)",
        MOTO,
        (
            put(
                _SFN,
                "Execution",
                "c16c6915b361",
                f"{_SF}.executions:SharedStoreExecution",
            ),
            wrap(
                _SFN_BASE,
                "StepFunctionBackend.create_activity",
                "4148ad3497f4",
                f"{_SF}.executions:create_shared",
            ),
            wrap(
                _SFN_BASE,
                "StepFunctionBackend.delete_activity",
                "32708e8b1e2e",
                f"{_SF}.executions:delete_shared",
            ),
            put(
                _SFN_RESPONSES,
                "StepFunctionResponse.get_activity_task",
                ABSENT,
                f"{_SF}.executions:get_activity_task",
            ),
            put(
                _CALLBACK,
                "CallbackPoolManager.add_activity_task",
                "64f0bb8a8891",
                f"{_SF}.callbacks:add_activity_task",
            ),
        ),
        reads=(
            Source(
                "moto.stepfunctions.parser.backend.activity", "Activity", "df76c3f2da7f"
            ),
            Source(_CALLBACK, "ActivityCallbackEndpoint", "700794a3ed05"),
        ),
    ),
    Patch(
        "sfn-early-answer",
        "a task answered at once is not lost",
        MOTO,
        (
            wrap(
                _CALLBACK,
                "CallbackEndpoint.setup_heartbeat_endpoint",
                "bcf8b4650679",
                f"{_SF}.callbacks:woken_if_answered",
            ),
        ),
        reads=(
            Source(_ACTIVITY_TASK, "StateTaskActivity._eval_execution", "19e00cc3f757"),
        ),
    ),
    Patch(
        "sfn-unnamed-executions",
        "unnamed executions get a UUID, not None",
        MOTO,
        (
            wrap(
                _SFN,
                "StepFunctionsParserBackend.start_execution",
                "0f8d9dd57baf",
                f"{_SF}.executions:start_named",
            ),
        ),
    ),
    Patch(
        "sfn-machine-conflict",
        "CreateStateMachine conflict: AlreadyExists",
        MOTO,
        (
            wrap(
                _SFN,
                "StepFunctionsParserBackend.create_state_machine",
                "dc56ec54216f",
                f"{_SF}.executions:create_or_conflict",
            ),
        ),
    ),
    Patch(
        "sfn-closed-tasks",
        "early heartbeats ok; closed tasks TimedOut",
        MOTO,
        (
            wrap(
                _SFN,
                "StepFunctionsParserBackend.send_task_heartbeat",
                "279ad79cd7a2",
                f"{_SF}.executions:beat_from_the_start",
            ),
            wrap(
                _SFN,
                "StepFunctionsParserBackend.send_task_success",
                "2e95c66f0d67",
                f"{_SF}.executions:refuse_closed",
            ),
            wrap(
                _SFN,
                "StepFunctionsParserBackend.send_task_failure",
                "2d5a9597cf1d",
                f"{_SF}.executions:refuse_closed",
            ),
            wrap(
                _SFN,
                "StepFunctionsParserBackend.send_task_heartbeat",
                "279ad79cd7a2",
                f"{_SF}.executions:refuse_closed",
            ),
        ),
        reads=(
            Source(_CALLBACK, "CallbackEndpoint", "84bf0df32aaa"),
            Source(_CALLBACK, "ActivityCallbackEndpoint", "700794a3ed05"),
        ),
    ),
    Patch(
        "sfn-history-pages",
        "history paged; SendTaskFailure keeps cause",
        MOTO,
        (
            put(
                _SFN_RESPONSES,
                "StepFunctionResponse.get_execution_history",
                "3889cc6224ac",
                f"{_SF}.executions:get_execution_history",
            ),
            put(
                _SFN_RESPONSES,
                "StepFunctionResponse.send_task_failure",
                "f0fed5e80576",
                f"{_SF}.executions:send_task_failure",
            ),
        ),
    ),
    Patch(
        "sfn-format-escapes",
        "States.Format reads escaped braces as AWS",
        MOTO,
        (
            put(
                "moto.stepfunctions.parser.asl.component.intrinsic.function."
                "statesfunction.generic.string_format",
                "StringFormat._eval_body",
                "97791ffd1722",
                f"{_SF}.intrinsics:eval_format",
            ),
        ),
    ),
    Patch(
        "sfn-map-abort",
        "a failing Map aborts its other iterations",
        MOTO,
        (
            wrap(
                "moto.stepfunctions.parser.asl.component.state.exec.state_map."
                "iteration.inline_iteration_component",
                "InlineIterationComponent._eval_body",
                "1a65306eb3ca",
                f"{_SF}.maps:aborting",
            ),
            wrap(
                "moto.stepfunctions.parser.asl.eval.environment",
                "Environment.set_error",
                "6447409d4056",
                f"{_SF}.maps:set_error_unless_stopped",
            ),
        ),
        reads=(
            Source(_CALLBACK, "ActivityTaskStartEndpoint", "8b85f2cf2efd"),
            Source(_CALLBACK, "CallbackPoolManager", "46a5b7baafbc"),
            Source(
                "moto.stepfunctions.parser.asl.eval.environment",
                "Environment.set_stop",
                "163c10d46b1c",
            ),
        ),
    ),
    Patch(
        "sfn-state-log",
        "one log line per state change",
        MOTO,
        (
            wrap(
                "moto.stepfunctions.parser.backend.execution_worker",
                "ExecutionWorker._get_evaluation_environment",
                "ce8421b71dab",
                f"{_SF}.statelog:labelled",
            ),
            wrap(
                "moto.stepfunctions.parser.asl.eval.event.event_manager",
                "EventManager.add_event",
                "cb430fa2e3fe",
                f"{_SF}.statelog:add_and_log",
            ),
        ),
    ),
)
"""Applied on the engine's first Step Functions request, in order."""
