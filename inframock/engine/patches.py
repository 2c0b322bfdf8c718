"""The registry of the engine's changes to moto, in the order they are applied.

Every change inframock makes to moto's code is listed here, and nowhere else
assigns to moto (tests/unit/test_engine_patches.py fails for one that does). Each
patch module (`sns_delivery`, `fifo_dedup`, ...) says why in its docstring
and holds the replacements; this list says what replaces what, in which
order, and the fingerprint of moto's code each one was checked against
(`patching`). `inframock engine patches` prints it.

Two stages: `START` is applied when the engine starts, `STEPFUNCTIONS` on its
first Step Functions or Lambda request (moto's interpreter costs a second of
start-up that a stack without pipeline runs never needs).

Order matters where two patches change one place: the later wraps the
earlier. SQS has one lock (`sqs_concurrency.LOCK`), taken by `sqs-one-lock`
around every change of a queue's messages; `sqs-fifo-dedup` comes before it,
so its check of remembered ids and the add or delete it guards run inside
that lock, as one step.
"""

from __future__ import annotations

from inframock.engine.patching import ABSENT, Change, Patch, Source, apply_checked

MOTO = "5.2.5"
"""The moto release every patch below was checked against (requirements.txt)."""

_E = "inframock.engine"
_SF = "inframock.engine.stepfunctions"
_SQS = "moto.sqs.models"
_SFN = "moto.stepfunctions.parser.models"
_SFN_BASE = "moto.stepfunctions.models"
_SFN_RESPONSES = "moto.stepfunctions.responses"
_CALLBACK = "moto.stepfunctions.parser.asl.eval.callback.callback"
_SERIALIZE = "moto.core.serialize"
_PARSE = "moto.core.parse"


def _wrap(module: str, attribute: str, checked: str, replacement: str) -> Change:
    """moto's `module.attribute` wrapped by the callable `replacement` names."""
    return Change(Source(module, attribute, checked), replacement, wraps=True)


def _put(module: str, attribute: str, checked: str, replacement: str) -> Change:
    """moto's `module.attribute` replaced by the object `replacement` names."""
    return Change(Source(module, attribute, checked), replacement)


START: tuple[Patch, ...] = (
    Patch(
        "sns-async-delivery",
        "SNS HTTP/S deliveries async, with retries",
        MOTO,
        (
            _wrap(
                "moto.sns.models",
                "requests",
                "e419001644bb",
                f"{_E}.sns_delivery:stand_in",
            ),
            _wrap(
                "moto.sns.models",
                "Subscription.publish",
                "fd07bd0bb87f",
                f"{_E}.sns_delivery:publish_marked",
            ),
        ),
    ),
    Patch(
        "sqs-fifo-dedup",
        "FIFO dedup ids outlive deleted messages",
        MOTO,
        (
            _wrap(
                _SQS,
                "Queue.add_message",
                "f27c9231c1f2",
                f"{_E}.fifo_dedup:add_unless_duplicate",
            ),
            _wrap(
                _SQS,
                "Queue.delete_message",
                "fa6fd5b9bd2c",
                f"{_E}.fifo_dedup:delete_remembering",
            ),
        ),
    ),
    Patch(
        "sqs-one-lock",
        "one receiver per message, no 500s on delete",
        MOTO,
        (
            _wrap(
                _SQS,
                "SQSBackend.receive_message",
                "065f3e5e7d21",
                f"{_E}.sqs_concurrency:receive_alone",
            ),
            _wrap(
                _SQS,
                "Queue.add_message",
                "f27c9231c1f2",
                f"{_E}.sqs_concurrency:locked",
            ),
            _wrap(
                _SQS,
                "Queue.delete_message",
                "fa6fd5b9bd2c",
                f"{_E}.sqs_concurrency:locked",
            ),
            _wrap(
                _SQS,
                "SQSBackend.change_message_visibility",
                "f0e9df5f6662",
                f"{_E}.sqs_concurrency:locked",
            ),
            _wrap(
                _SQS,
                "SQSBackend.purge_queue",
                "443ea1ae7b15",
                f"{_E}.sqs_concurrency:locked",
            ),
        ),
        reads=(Source(_SQS, "Queue.wait_for_messages", "58432562ccf2"),),
    ),
    Patch(
        "sqs-depth",
        "SQS stays fast as messages pile up",
        MOTO,
        (
            _put(_SQS, "unix_time", "f0576ec9e5f5", "time:time"),
            _put(
                _SQS,
                "unix_time_millis",
                "7a37e1337d02",
                f"{_E}.sqs_depth:unix_time_millis",
            ),
            _put(
                _SQS,
                "SQSBackend.is_message_valid_based_on_retention_period",
                "cca23b94a5f3",
                f"{_E}.sqs_depth:retained",
            ),
        ),
    ),
    Patch(
        "s3-refusals",
        "S3 long keys, bad XML: 400, not stored/500",
        MOTO,
        (
            _wrap(
                "moto.s3.models",
                "S3Backend.put_object",
                "db803f2da9d7",
                f"{_E}.aws_refusals:refuse_long_keys",
            ),
            _wrap(
                "moto.s3.models",
                "S3Backend.create_multipart_upload",
                "20b9a24585cf",
                f"{_E}.aws_refusals:refuse_long_keys",
            ),
            _wrap(
                "moto.s3.responses",
                "S3Response._bucket_response",
                "15b194a31b24",
                f"{_E}.aws_refusals:refuse_malformed_xml",
            ),
            _wrap(
                "moto.s3.responses",
                "S3Response._key_response",
                "eb67586ff76b",
                f"{_E}.aws_refusals:refuse_malformed_xml",
            ),
        ),
    ),
    Patch(
        "dynamodb-items",
        "big DynamoDB items read and written fast",
        MOTO,
        (
            _wrap(
                _SERIALIZE,
                "BaseJSONSerializer._serialize_type_structure",
                "36873909cd0a",
                f"{_E}.dynamodb_items:serialize_directly",
            ),
            _wrap(
                _PARSE,
                "BaseJSONParser._parse_structure",
                "2de165721ba4",
                f"{_E}.dynamodb_items:parse_directly",
            ),
        ),
        reads=(
            Source(_SERIALIZE, "ResponseSerializer._serialize", "4eccca5bf025"),
            Source(
                _SERIALIZE,
                "ResponseSerializer._serialize_type_structure",
                "f9b47068f40c",
            ),
            Source(
                _SERIALIZE,
                "ResponseSerializer._serialize_structure_member",
                "437fdce43aa5",
            ),
            Source(
                _SERIALIZE, "BaseJSONSerializer._serialize_type_map", "faa32d1fa9a8"
            ),
            Source(
                _SERIALIZE, "BaseJSONSerializer._serialize_type_list", "f87b14fe9166"
            ),
            Source(
                _SERIALIZE, "BaseJSONSerializer._serialize_type_string", "44954e021450"
            ),
            Source(
                _SERIALIZE, "ResponseSerializer._serialize_type_blob", "acd7e746cf06"
            ),
            Source(_SERIALIZE, "AttributePicker.__call__", "c15da8ec29c1"),
            Source(
                _SERIALIZE, "XFormedAttributePicker.get_possible_keys", "f0d20f55f37f"
            ),
            Source(_SERIALIZE, "DEFAULT_ALIAS_PROVIDERS", "8bc35a4b0612"),
            Source(_PARSE, "RequestParser._parse_shape", "86db10854efa"),
            Source(_PARSE, "RequestParser._parse_list", "e2539182995b"),
            Source(_PARSE, "RequestParser._parse_map", "a9e8feb4d551"),
            Source(_PARSE, "RequestParser._default_handle", "88c1ab7f9c98"),
        ),
    ),
)
"""Applied when the engine starts, in this order."""

STEPFUNCTIONS: tuple[Patch, ...] = (
    Patch(
        "sfn-interpreter-on",
        "state machine executions run",
        MOTO,
        (
            _wrap(
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
            _put(
                _SFN,
                "Execution",
                "c16c6915b361",
                f"{_SF}.executions:SharedStoreExecution",
            ),
            _wrap(
                _SFN_BASE,
                "StepFunctionBackend.create_activity",
                "4148ad3497f4",
                f"{_SF}.executions:create_shared",
            ),
            _wrap(
                _SFN_BASE,
                "StepFunctionBackend.delete_activity",
                "32708e8b1e2e",
                f"{_SF}.executions:delete_shared",
            ),
            _put(
                _SFN_RESPONSES,
                "StepFunctionResponse.get_activity_task",
                ABSENT,
                f"{_SF}.executions:get_activity_task",
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
        "sfn-unnamed-executions",
        "unnamed executions get a UUID, not None",
        MOTO,
        (
            _wrap(
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
            _wrap(
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
            _wrap(
                _SFN,
                "StepFunctionsParserBackend.send_task_heartbeat",
                "279ad79cd7a2",
                f"{_SF}.executions:beat_from_the_start",
            ),
            _wrap(
                _SFN,
                "StepFunctionsParserBackend.send_task_success",
                "2e95c66f0d67",
                f"{_SF}.executions:refuse_closed",
            ),
            _wrap(
                _SFN,
                "StepFunctionsParserBackend.send_task_failure",
                "2d5a9597cf1d",
                f"{_SF}.executions:refuse_closed",
            ),
            _wrap(
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
            _put(
                _SFN_RESPONSES,
                "StepFunctionResponse.get_execution_history",
                "3889cc6224ac",
                f"{_SF}.executions:get_execution_history",
            ),
            _put(
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
            _put(
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
            _wrap(
                "moto.stepfunctions.parser.asl.component.state.exec.state_map."
                "iteration.inline_iteration_component",
                "InlineIterationComponent._eval_body",
                "1a65306eb3ca",
                f"{_SF}.maps:aborting",
            ),
            _wrap(
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
            _wrap(
                "moto.stepfunctions.parser.backend.execution_worker",
                "ExecutionWorker._get_evaluation_environment",
                "ce8421b71dab",
                f"{_SF}.statelog:labelled",
            ),
            _wrap(
                "moto.stepfunctions.parser.asl.eval.event.event_manager",
                "EventManager.add_event",
                "cb430fa2e3fe",
                f"{_SF}.statelog:add_and_log",
            ),
        ),
    ),
    Patch(
        "lambda-native-launcher",
        "pipeline launcher Lambdas run natively",
        MOTO,
        (
            _wrap(
                "moto.awslambda.models",
                "LambdaBackend.invoke",
                "708fb4c92029",
                f"{_SF}.launcher:invoke_native",
            ),
        ),
        reads=(
            Source(
                "moto.awslambda.models", "LambdaBackend.get_function", "3a27e326009f"
            ),
        ),
    ),
)
"""Applied on the engine's first Step Functions or Lambda request, in order."""

PATCHES = START + STEPFUNCTIONS
"""Every patch, in the order the engine applies them."""


def apply_all(stage: tuple[Patch, ...]) -> None:
    """Apply the patches of `stage` (START or STEPFUNCTIONS), in order."""
    # pylint: disable-next=import-outside-toplevel
    import moto

    apply_checked(stage, moto.__version__)
