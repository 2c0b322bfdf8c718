"""aws/direct_json.py's BatchWriteItem body against botocore's own: the same
JSON for every item the loader can send (typed as the loader types table
files), and botocore's serializer wherever `json.dumps` cannot write one."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from inframock.aws import direct_json
from inframock.data.dataset import json_decoder
from inframock.data.typed_json import as_typed
from tests.unit.test_typed_json import JSON_VALUES, _text

MODEL = botocore.session.get_session().get_service_model("dynamodb")
OPERATION = MODEL.operation_model("BatchWriteItem")


def _botocore_body(params: dict[str, Any]) -> Any:
    serializer = create_serializer("json", include_validation=False)
    return json.loads(serializer.serialize_to_request(params, OPERATION)["body"])


def _direct(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the two events leave: the parameters botocore then serializes,
    and the request after `before-call`."""
    context: dict[str, Any] = {}
    direct_json._write_body(params, context)  # pylint: disable=protected-access
    request = {"body": b"botocore's"}
    direct_json._send_body(request, context)  # pylint: disable=protected-access
    return params, request


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(min_size=1, max_size=6), JSON_VALUES), max_size=5)
)
def test_the_body_is_what_botocore_writes(records: list[dict[str, Any]]) -> None:
    items = [
        {name: as_typed(json_decoder().decode(_text(v))) for name, v in r.items()}
        for r in records
    ]
    params = {"RequestItems": {"t": [{"PutRequest": {"Item": i}} for i in items]}}
    expected = _botocore_body(json.loads(json.dumps(params)))
    left, request = _direct(params)
    assert left == {"RequestItems": {}}
    assert json.loads(request["body"]) == expected


def test_blobs_are_left_to_botocore() -> None:
    params = {"RequestItems": {"t": [{"PutRequest": {"Item": {"b": {"B": b"\x00"}}}}]}}
    left, request = _direct(params)
    assert left["RequestItems"]["t"][0]["PutRequest"]["Item"] == {"b": {"B": b"\x00"}}
    assert request == {"body": b"botocore's"}
    assert _botocore_body(left)["RequestItems"]["t"][0]["PutRequest"]["Item"] == {
        "b": {"B": "AA=="}
    }
