"""DynamoDB items read from the stack are, byte for byte, what moto itself sends.

The engine serializes and parses items in one pass (inframock/engine/
dynamodb_items.py, patch `dynamodb-items`) instead of moto's walk of the
model, which took 38 s for a Query of 2.5 MB of plots (`make bench` measures
both). These tests write the same items, of every attribute type, nested
several levels deep, to a plain moto server and to the stack, and compare the
raw HTTP bodies of every read: GetItem, Query, Scan, BatchGetItem,
TransactGetItems, the ReturnValues of UpdateItem, PutItem and DeleteItem, and
stream records. Requests moto parses its own way (base64 that is not, a
number where a string goes) get moto's own answer too.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any, Callable, Iterator

import pytest
from botocore.exceptions import ClientError

from inframock.testing.harness import RunningStack, standalone_moto
from tests.helpers import client_sending_once

TABLE = "dynamodb-items-test"
KEY = ("pk", "sk")

SCALARS: dict[str, Any] = {
    "text": {"S": "plain"},
    "empty": {"S": ""},
    "unicode": {"S": 'ünïcødé 🙂 \u2028 "quoted" \\ tab\t名前'},
    "名前": {"S": "an attribute named in unicode"},
    "tiny": {"N": "1e-130"},
    "negative": {"N": "-42.50"},
    "wide": {"N": "12345678901234567890123456789012345678"},
    "binary": {"B": bytes(range(256))},
    "no bytes": {"B": b""},
    "strings": {"SS": ["a", "é", "🙂", "a b"]},
    "numbers": {"NS": ["1", "2.5", "-0.1", "1E+5"]},
    "blobs": {"BS": [b"\x00", b"\xff\xfe", b"text"]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "empty map": {"M": {}},
    "empty list": {"L": []},
}
"""One attribute of each type, with the values that are easy to get wrong."""


def _nested(depth: int) -> dict[str, Any]:
    """Maps and lists of every type, `depth` levels deep."""
    if depth == 0:
        return {"M": dict(SCALARS)}
    inner = _nested(depth - 1)
    return {
        "M": {
            "level": {"N": str(depth)},
            "list": {"L": [inner, {"B": bytes([depth])}, {"NULL": True}, {"L": []}]},
            "map": inner,
            "with.dot": {"S": "a key with a dot"},
        }
    }


def _plot(number: int) -> dict[str, Any]:
    """A plots-tables item: a list of maps of numbers, as the API stores it."""
    points = [
        {
            "M": {
                "x": {"N": f"{i * 0.37 - 30:.6f}"},
                "y": {"N": f"{30 - i * 0.11:.6f}"},
                "cellId": {"N": str(number * 1000 + i)},
                "cluster": {"S": f"Cluster {i % 20}"},
            }
        }
        for i in range(500)
    ]
    return {"plotType": {"S": "embeddingCategorical"}, "plotData": {"L": points}}


ITEMS: dict[str, dict[str, Any]] = {
    "scalars": SCALARS,
    "nested": {"deep": _nested(5), **SCALARS},
    "plot-1": _plot(1),
    "plot-2": _plot(2),
    "mangled": {"odd": {"M": {"": {"S": "a nested key moto drops"}}}},
}
"""Items by sort key. moto writes the tags of the `mangled` item's empty
nested key into its map ({"M": {"S": ...}}): the stack must send the same."""


def _key(name: str) -> dict[str, Any]:
    return {"pk": {"S": "items"}, "sk": {"S": name}}


class RawClient:
    """A DynamoDB client that keeps the raw body of each response; botocore
    parses `{}` instead (it cannot parse what moto sends for `mangled`)."""

    def __init__(self, endpoint: str, service: str = "dynamodb") -> None:
        self.api: Any = client_sending_once(endpoint, service)
        self.bodies: list[tuple[int, bytes]] = []
        self.api.meta.events.register("before-parse.*.*", self._keep)

    def _keep(self, response_dict: dict[str, Any], **_: Any) -> None:
        self.bodies.append((response_dict["status_code"], response_dict["body"]))
        response_dict["body"] = b"{}"

    def raw(self, operation: str, **params: Any) -> tuple[int, bytes]:
        """The HTTP status and raw body of `operation` with `params` (an
        error's too)."""
        with contextlib.suppress(ClientError):
            getattr(self.api, operation)(**params)
        return self.bodies[-1]


def _write(endpoint: str) -> RawClient:
    """`endpoint` with this module's table and items."""
    client = RawClient(endpoint)
    client.api.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": KEY[0], "KeyType": "HASH"},
            {"AttributeName": KEY[1], "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in KEY
        ],
        StreamSpecification={
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    )
    for name, item in ITEMS.items():
        client.api.put_item(TableName=TABLE, Item={**_key(name), **item})
    return client


@pytest.fixture(scope="module", name="both")
def both_fixture(session_stack: RunningStack) -> Iterator[tuple[RawClient, RawClient]]:
    """Clients of a plain moto server and of the stack, each with the items."""
    with standalone_moto() as plain:
        yield _write(plain), _write(session_stack.endpoint)


Read = Callable[[RawClient], tuple[int, bytes]]

READS: dict[str, Read] = {
    **{
        f"GetItem {name}": (
            lambda c, name=name: c.raw("get_item", TableName=TABLE, Key=_key(name))
        )
        for name in ITEMS
    },
    "Query": lambda c: c.raw(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "items"}},
    ),
    "Query, projected": lambda c: c.raw(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "items"}},
        # no sets: moto projects them through a set(), in its process's order
        ProjectionExpression="deep.#m.#m.#l, deep.#w, #b, #u, plotData[3], odd",
        ExpressionAttributeNames={
            "#m": "map",
            "#l": "level",
            "#w": "with.dot",
            "#b": "binary",
            "#u": "unicode",
        },
    ),
    "Scan": lambda c: c.raw("scan", TableName=TABLE),
    "BatchGetItem": lambda c: c.raw(
        "batch_get_item",
        RequestItems={TABLE: {"Keys": [_key(name) for name in ITEMS]}},
    ),
    "TransactGetItems": lambda c: c.raw(
        "transact_get_items",
        TransactItems=[{"Get": {"TableName": TABLE, "Key": _key(n)}} for n in ITEMS],
    ),
}
"""Every read of items, by name."""


@pytest.mark.parametrize("read", sorted(READS))
def test_every_read_sends_the_bytes_moto_sends(
    both: tuple[RawClient, RawClient], read: str
) -> None:
    plain, stack = both
    expected = READS[read](plain)
    assert expected[0] == 200, expected
    assert READS[read](stack) == expected


def test_the_bodies_compared_hold_every_type(both: tuple[RawClient, RawClient]) -> None:
    """The comparison above is of real items: binary as base64, sets, nesting."""
    _, stack = both
    status, body = stack.raw("get_item", TableName=TABLE, Key=_key("nested"))
    assert status == 200
    item = json.loads(body)["Item"]
    assert base64.b64decode(item["binary"]["B"]) == bytes(range(256))
    assert [base64.b64decode(b) for b in item["blobs"]["BS"]] == SCALARS["blobs"]["BS"]
    deepest = item["deep"]
    for _ in range(5):
        deepest = deepest["M"]["map"]
    assert deepest["M"]["tiny"] == {"N": "1e-130"}
    assert deepest["M"]["unicode"] == SCALARS["unicode"]
    plot = json.loads(stack.raw("get_item", TableName=TABLE, Key=_key("plot-1"))[1])
    assert len(plot["Item"]["plotData"]["L"]) == 500


def _update(client: RawClient) -> list[tuple[int, bytes]]:
    return [
        client.raw(
            "update_item",
            TableName=TABLE,
            Key=_key("updated"),
            UpdateExpression="SET deep = :deep, plotData = :plot, bytes = :blob",
            ExpressionAttributeValues={
                ":deep": _nested(3),
                ":plot": _plot(3)["plotData"],
                ":blob": {"B": b"\x00\x01"},
            },
            ReturnValues="ALL_NEW",
        )
    ]


def _put_and_delete(client: RawClient) -> list[tuple[int, bytes]]:
    replaced = {**_key("replaced"), **SCALARS}
    return [
        client.raw("put_item", TableName=TABLE, Item=replaced),
        client.raw(
            "put_item",
            TableName=TABLE,
            Item={**replaced, "deep": _nested(2)},
            ReturnValues="ALL_OLD",
        ),
        client.raw(
            "delete_item",
            TableName=TABLE,
            Key=_key("replaced"),
            ReturnValues="ALL_OLD",
        ),
    ]


@pytest.mark.parametrize("write", [_update, _put_and_delete])
def test_the_values_writes_return_are_the_bytes_moto_sends(
    both: tuple[RawClient, RawClient],
    write: Callable[[RawClient], list[tuple[int, bytes]]],
) -> None:
    plain, stack = both
    expected = write(plain)
    assert [status for status, _ in expected] == [200] * len(expected), expected
    assert b'"Attributes": {' in expected[-1][1]
    assert write(stack) == expected


MOTOS_OWN_WAY = {
    "base64 that is not": b'{"TableName": "%s", "Item": {"pk": {"S": "items"}, '
    b'"sk": {"S": "bad"}, "b": {"B": "not base64!"}}}',
    "a number for a string": b'{"TableName": "%s", "Item": {"pk": {"S": "items"}, '
    b'"sk": {"S": "number"}, "n": {"N": 5}}}',
    "null for a value": b'{"TableName": "%s", "Item": {"pk": {"S": "items"}, '
    b'"sk": {"S": "null"}, "s": {"S": null}}}',
    "two tags": b'{"TableName": "%s", "Item": {"pk": {"S": "items"}, '
    b'"sk": {"S": "two"}, "t": {"S": "a", "N": "1"}}}',
}
"""PutItem bodies a client would not send: moto parses them its own way."""


@pytest.mark.parametrize("case", sorted(MOTOS_OWN_WAY))
def test_odd_requests_get_motos_own_answer(
    both: tuple[RawClient, RawClient], case: str
) -> None:
    body = MOTOS_OWN_WAY[case] % TABLE.encode()
    sk = json.loads(body)["Item"]["sk"]

    def put_and_get(client: RawClient) -> list[tuple[int, bytes]]:
        def replace(request: Any, **_: Any) -> None:
            request.data = body

        client.api.meta.events.register("before-sign.*.PutItem", replace)
        try:
            put = client.raw("put_item", TableName=TABLE, Item=_key("placeholder"))
        finally:
            client.api.meta.events.unregister("before-sign.*.PutItem", replace)
        key = {"pk": {"S": "items"}, "sk": sk}
        return [put, client.raw("get_item", TableName=TABLE, Key=key)]

    plain, stack = both
    assert put_and_get(stack) == put_and_get(plain)


def _images(client: RawClient) -> list[dict[str, Any]]:
    """The items of every record of the table's stream, as sent."""
    table = json.loads(client.raw("describe_table", TableName=TABLE)[1])["Table"]
    arn = table["LatestStreamArn"]
    streams = RawClient(client.api.meta.endpoint_url, "dynamodbstreams")
    shards = json.loads(streams.raw("describe_stream", StreamArn=arn)[1])
    shard = shards["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = json.loads(
        streams.raw(
            "get_shard_iterator",
            StreamArn=arn,
            ShardId=shard,
            ShardIteratorType="TRIM_HORIZON",
        )[1]
    )["ShardIterator"]
    records = json.loads(streams.raw("get_records", ShardIterator=iterator)[1])
    return [
        {
            part: record["dynamodb"].get(part)
            for part in ("Keys", "NewImage", "OldImage")
        }
        for record in records["Records"]
    ]


def test_stream_records_carry_the_items_moto_sends(
    both: tuple[RawClient, RawClient],
) -> None:
    """Records differ in their ids and times; their items do not."""
    plain, stack = both
    expected = _images(plain)
    assert len(expected) >= len(ITEMS)
    assert _images(stack) == expected
