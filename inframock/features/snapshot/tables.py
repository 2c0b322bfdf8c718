"""DynamoDB in a snapshot: every table's definition and every item, exactly.

Items are kept in DynamoDB's own typed form (`{"N": "0.1"}`, `{"SS": [...]}`),
so numbers, sets and binary values come back exactly as they were; scans
follow LastEvaluatedKey to the end and go to disk page by page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inframock.aws.batch import BATCH_SIZE, write_batch
from inframock.aws.listings import table_names
from inframock.data.dataset import is_typed_value
from inframock.features.snapshot.format import (
    Connection,
    JsonLines,
    SnapshotError,
    batched,
    checked_base64,
    checked_index,
    checked_lines,
    from_text,
    part_file,
    read_json,
    read_lines,
    require,
    to_text,
    write_json,
)

INDEX = "tables.json"
"""DynamoDB's BatchWriteItem limit."""


def save(conn: Connection, folder: Path) -> dict[str, int]:
    """Write every table's definition and items under `folder`."""
    ddb = conn.clients.dynamodb
    tables, items = [], 0
    for name in table_names(conn.clients):
        description = ddb.describe_table(TableName=name)["Table"]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        with JsonLines(folder / f"{name}.jsonl") as out:
            for page in ddb.get_paginator("scan").paginate(
                TableName=name, ConsistentRead=True
            ):
                for item in page["Items"]:
                    out.write({k: _encode(v) for k, v in item.items()})
        items += out.count
        tables.append(
            {
                "create": create_arguments(description),
                "ttl_attribute": (
                    ttl.get("AttributeName")
                    if ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}
                    else None
                ),
                "items": out.count,
            }
        )
    write_json(folder / INDEX, tables)
    return {"table": len(tables), "item": items}


def wipe(conn: Connection) -> None:
    """Delete every table of the stack."""
    ddb = conn.clients.dynamodb
    for name in table_names(conn.clients):
        ddb.delete_table(TableName=name)
        ddb.get_waiter("table_not_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )


def check(folder: Path) -> None:
    """SnapshotError, naming file and line, for anything `restore` could not use."""
    for number, table in enumerate(checked_index(folder, INDEX)):
        where = f"{folder.name}/{INDEX} table {number}"
        require(table, where, create=dict, ttl_attribute=(str, type(None)))
        require(table["create"], where, TableName=str)
        for line, item in checked_lines(
            folder, f"{table['create']['TableName']}.jsonl"
        ):
            for name, value in item.items():
                _check_value(value, f"{line}: attribute {name}")


def _check_value(value: Any, where: str) -> None:
    """SnapshotError unless `value` is a typed value `_decode` can decode."""
    if not is_typed_value(value):
        raise SnapshotError(f"{where}: not a typed DynamoDB value")
    ((kind, inner),) = value.items()
    if kind == "B":
        checked_base64(inner, where)
    elif kind in ("BS", "L", "M"):
        members = inner.values() if isinstance(inner, dict) else inner
        if not isinstance(inner, dict if kind == "M" else list):
            raise SnapshotError(f"{where}: {kind} of the wrong type")
        for member in members:
            if kind == "BS":
                checked_base64(member, where)
            else:
                _check_value(member, where)


def restore(conn: Connection, folder: Path) -> None:
    """Create the saved tables and put their items back, 25 at a time."""
    ddb = conn.clients.dynamodb
    for table in read_json(part_file(folder, INDEX)):
        name = table["create"]["TableName"]
        ddb.create_table(**table["create"])
        ddb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        if table["ttl_attribute"]:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "Enabled": True,
                    "AttributeName": table["ttl_attribute"],
                },
            )
        lines = read_lines(part_file(folder, f"{name}.jsonl"))
        for batch in batched(lines, BATCH_SIZE):
            write_batch(
                ddb,
                name,
                [
                    {"PutRequest": {"Item": {k: _decode(v) for k, v in i.items()}}}
                    for i in batch
                ],
            )


def create_arguments(description: dict[str, Any]) -> dict[str, Any]:
    """The CreateTable call that makes a table like `description` (DescribeTable's)."""
    mode = description.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    provisioned = mode == "PROVISIONED"
    arguments: dict[str, Any] = {
        "TableName": description["TableName"],
        "KeySchema": description["KeySchema"],
        "AttributeDefinitions": description["AttributeDefinitions"],
        "BillingMode": mode,
    }
    if provisioned:
        arguments["ProvisionedThroughput"] = _throughput(description)
    indexes = [
        {
            "IndexName": index["IndexName"],
            "KeySchema": index["KeySchema"],
            "Projection": index["Projection"],
            **({"ProvisionedThroughput": _throughput(index)} if provisioned else {}),
        }
        for index in description.get("GlobalSecondaryIndexes", [])
    ]
    if indexes:
        arguments["GlobalSecondaryIndexes"] = indexes
    local = [
        {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        for index in description.get("LocalSecondaryIndexes", [])
    ]
    if local:
        arguments["LocalSecondaryIndexes"] = local
    stream = description.get("StreamSpecification", {})
    if stream.get("StreamEnabled"):
        arguments["StreamSpecification"] = stream
    return arguments


def _throughput(description: dict[str, Any]) -> dict[str, int]:
    throughput = description.get("ProvisionedThroughput", {})
    return {
        "ReadCapacityUnits": throughput.get("ReadCapacityUnits") or 1,
        "WriteCapacityUnits": throughput.get("WriteCapacityUnits") or 1,
    }


def _encode(value: dict[str, Any]) -> dict[str, Any]:
    """A typed attribute value as JSON: binary (B, BS) as base64 text."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": to_text(inner)}
    if kind == "BS":
        return {"BS": [to_text(member) for member in inner]}
    if kind == "M":
        return {"M": {k: _encode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_encode(member) for member in inner]}
    return value


def _decode(value: dict[str, Any]) -> dict[str, Any]:
    """The typed attribute value `_encode` wrote."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": from_text(inner)}
    if kind == "BS":
        return {"BS": [from_text(member) for member in inner]}
    if kind == "M":
        return {"M": {k: _decode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_decode(member) for member in inner]}
    return value
