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
from inframock.snapshot.format import (
    Connection,
    JsonLines,
    batched,
    from_text,
    read_json,
    read_lines,
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


def restore(conn: Connection, folder: Path) -> None:
    """Create the saved tables and put their items back, 25 at a time."""
    ddb = conn.clients.dynamodb
    for table in read_json(folder / INDEX):
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
        for batch in batched(read_lines(folder / f"{name}.jsonl"), BATCH_SIZE):
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
