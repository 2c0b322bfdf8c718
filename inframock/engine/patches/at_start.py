"""The patches applied when the engine starts: SNS, SQS, S3, DynamoDB, the log.

Any AWS request the engine serves may need these, so they are made before
the first one (`inframock.engine.server`), in this order: where two change
one place, the later wraps the earlier (`sqs-one-lock` around
`sqs-fifo-dedup`; the registry, `inframock.engine.patches`, says why).
"""

from __future__ import annotations

from inframock.engine.patching import MOTO, Patch, Source, put, wrap

_E = "inframock.engine"
_SQS = "moto.sqs.models"
_SERIALIZE = "moto.core.serialize"
_PARSE = "moto.core.parse"


START: tuple[Patch, ...] = (
    Patch(
        "sns-async-delivery",
        "SNS HTTP/S deliveries async, with retries",
        MOTO,
        (
            wrap(
                "moto.sns.models",
                "requests",
                "e419001644bb",
                f"{_E}.sns_delivery:stand_in",
            ),
            wrap(
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
            wrap(
                _SQS,
                "Queue.add_message",
                "f27c9231c1f2",
                f"{_E}.fifo_dedup:add_unless_duplicate",
            ),
            wrap(
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
            wrap(
                _SQS,
                "SQSBackend.receive_message",
                "065f3e5e7d21",
                f"{_E}.sqs_concurrency:receive_alone",
            ),
            wrap(
                _SQS,
                "Queue.add_message",
                "f27c9231c1f2",
                f"{_E}.sqs_concurrency:locked",
            ),
            wrap(
                _SQS,
                "Queue.delete_message",
                "fa6fd5b9bd2c",
                f"{_E}.sqs_concurrency:locked",
            ),
            wrap(
                _SQS,
                "SQSBackend.change_message_visibility",
                "f0e9df5f6662",
                f"{_E}.sqs_concurrency:locked",
            ),
            wrap(
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
            put(_SQS, "unix_time", "f0576ec9e5f5", "time:time"),
            put(
                _SQS,
                "unix_time_millis",
                "7a37e1337d02",
                f"{_E}.sqs_depth:unix_time_millis",
            ),
            put(
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
            wrap(
                "moto.s3.models",
                "S3Backend.put_object",
                "db803f2da9d7",
                f"{_E}.aws_refusals:refuse_long_keys",
            ),
            wrap(
                "moto.s3.models",
                "S3Backend.create_multipart_upload",
                "20b9a24585cf",
                f"{_E}.aws_refusals:refuse_long_keys",
            ),
            wrap(
                "moto.s3.responses",
                "S3Response._bucket_response",
                "15b194a31b24",
                f"{_E}.aws_refusals:refuse_malformed_xml",
            ),
            wrap(
                "moto.s3.responses",
                "S3Response._key_response",
                "eb67586ff76b",
                f"{_E}.aws_refusals:refuse_malformed_xml",
            ),
        ),
    ),
    Patch(
        "json-parsed-once",
        "a JSON body checked, then not parsed again",
        MOTO,
        (
            wrap(
                _PARSE,
                "BaseJSONParser._parse_body_as_json",
                "41aa5265807a",
                f"{_E}.aws_refusals:parsed_once",
            ),
        ),
    ),
    Patch(
        "dynamodb-items",
        "big DynamoDB items read and written fast",
        MOTO,
        (
            wrap(
                _SERIALIZE,
                "BaseJSONSerializer._serialize_type_structure",
                "36873909cd0a",
                f"{_E}.dynamodb_items:serialize_directly",
            ),
            wrap(
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
    Patch(
        "dynamodb-batch-keys",
        "BatchWriteItem duplicates found by key",
        MOTO,
        (
            wrap(
                "moto.dynamodb.responses",
                "DynamoHandler.batch_write_item",
                "26221a09e2b2",
                f"{_E}.dynamodb_batch:keys_checked",
            ),
            put(
                "moto.dynamodb.responses",
                "dynamo_json_dump",
                "2aa70fe4a931",
                f"{_E}.dynamodb_batch:distinct",
            ),
        ),
    ),
    Patch(
        "moto-one-model-loader",
        "botocore models read by one loader",
        MOTO,
        (
            wrap(
                "moto.core.utils",
                "create_loader",
                "b94f7ea2b2fa",
                f"{_E}.model_loader:create_loader_once",
            ),
            put(
                "moto.core.utils",
                "service_name_from_moto_package_name",
                "7a76495600e3",
                f"{_E}.model_loader:service_name_of_package",
            ),
            put(
                "moto.core.base_backend",
                "AccountSpecificBackend.get_session",
                "ff565ab3a09c",
                f"{_E}.model_loader:session_for",
            ),
        ),
        reads=(
            Source("moto.core.utils", "_load_service_model", "f3e61be0fc70"),
            Source(
                "moto.core.base_backend",
                "AccountSpecificBackend._generate_regions",
                "6f339e32d8fa",
            ),
        ),
    ),
    Patch(
        "moto-modules-once",
        "moto's packages listed once",
        MOTO,
        (
            wrap(
                "moto.backends",
                "list_of_moto_modules",
                "4f741a10b065",
                f"{_E}.moto_modules:listed_once",
            ),
        ),
        reads=(
            Source(
                "moto.moto_server.werkzeug_app",
                "DomainDispatcherApplication.get_backend_for_host",
                "1f41972c1e4e",
            ),
        ),
    ),
    Patch(
        "oplog-dispatch",
        "the log names the operation moto dispatched",
        MOTO,
        (
            wrap(
                "moto.core.responses",
                "BaseResponse.setup_class",
                "0045fc77574a",
                f"{_E}.calls:noted",
            ),
        ),
        reads=(
            Source("moto.core.responses", "BaseResponse._get_action", "6430b292c432"),
        ),
    ),
)
"""Applied when the engine starts, in this order."""
