"""BatchWriteItem refuses a batch that names one item twice, by its key.

On the stack, as on AWS, two puts of one key (whatever their other
attributes), a put and a delete of one item, or one number key written two
ways are refused whole, and nothing of the batch is written; the same key in
two tables is not a duplicate. A plain moto server compares whole items and
lets two puts of one key through (inframock/engine/dynamodb_batch.py).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from botocore.exceptions import ClientError

from inframock.testing.harness import RunningStack, standalone_moto
from tests.helpers import remote_client

_TABLES = itertools.count()


@pytest.fixture(scope="module", name="ddb")
def fixture_ddb(shared_stack: RunningStack) -> Any:
    """A DynamoDB client for the shared stack (the module's tables are its own)."""
    return shared_stack.client("dynamodb")


def new_table(ddb: Any, range_key: bool = False) -> str:
    """A new table keyed by `id` (a number), and `at` (a string) if `range_key`."""
    name = f"batch-keys-{next(_TABLES)}"
    keys = [("id", "HASH", "N")] + ([("at", "RANGE", "S")] if range_key else [])
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": a, "KeyType": k} for a, k, _ in keys],
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": t} for a, _, t in keys
        ],
    )
    return name


def put(item: dict[str, Any]) -> dict[str, Any]:
    """A put request."""
    return {"PutRequest": {"Item": item}}


def refused(ddb: Any, requests: dict[str, list[dict[str, Any]]]) -> str:
    """The error message of a BatchWriteItem that must fail."""
    with pytest.raises(ClientError) as caught:
        ddb.batch_write_item(RequestItems=requests)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    return caught.value.response["Error"]["Message"]


def count(ddb: Any, table: str) -> int:
    """Items in `table`."""
    return ddb.scan(TableName=table, Select="COUNT")["Count"]


def test_two_puts_of_one_key_are_refused_and_nothing_is_written(ddb: Any) -> None:
    table = new_table(ddb)
    batch = [
        put({"id": {"N": "7"}, "v": {"S": "first"}}),
        put({"id": {"N": "8"}, "v": {"S": "other"}}),
        put({"id": {"N": "7"}, "v": {"S": "second"}}),
    ]
    assert refused(ddb, {table: batch}) == (
        "Provided list of item keys contains duplicates"
    )
    assert count(ddb, table) == 0


def test_a_put_and_a_delete_of_one_item_are_refused(ddb: Any) -> None:
    table = new_table(ddb, range_key=True)
    key = {"id": {"N": "1"}, "at": {"S": "a"}}
    batch = [put({**key, "v": {"S": "x"}}), {"DeleteRequest": {"Key": key}}]
    assert "duplicates" in refused(ddb, {table: batch})


def test_a_number_key_written_two_ways_is_one_key(ddb: Any) -> None:
    table = new_table(ddb)
    assert "duplicates" in refused(
        ddb, {table: [put({"id": {"N": "1.50"}}), put({"id": {"N": "1.5"}})]}
    )


def test_one_key_in_two_tables_or_with_two_ranges_is_not_a_duplicate(
    ddb: Any,
) -> None:
    first, second, ranged = new_table(ddb), new_table(ddb), new_table(ddb, True)
    same = {"id": {"N": "3"}}
    answer = ddb.batch_write_item(
        RequestItems={
            first: [put(same)],
            second: [put(same)],
            ranged: [put({**same, "at": {"S": "a"}}), put({**same, "at": {"S": "b"}})],
        }
    )
    assert not answer["UnprocessedItems"]
    assert [count(ddb, t) for t in (first, second, ranged)] == [1, 1, 2]


def test_moto_itself_still_lets_two_puts_of_one_key_through() -> None:
    """When this fails, moto checks keys: drop `dynamodb-batch-keys`
    (inframock/engine/dynamodb_batch.py)."""
    with standalone_moto() as endpoint:
        ddb = remote_client(endpoint, "dynamodb")
        table = new_table(ddb)
        ddb.batch_write_item(
            RequestItems={
                table: [put({"id": {"N": "7"}, "v": {"S": s}}) for s in ("a", "b")]
            }
        )
        assert count(ddb, table) == 1
