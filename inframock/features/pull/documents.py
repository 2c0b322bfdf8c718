"""An experiment's DynamoDB items as the data folder's JSON files (profile 2021).

The files are exactly what the loader reads: `mock_experiment.json`,
`mock_samples.json`, an empty `mock_plots_tables.json`, and when the remote
has it `mock_projects.json`. Numbers stay exact (DynamoDB's decimals are
written as JSON numbers, digit for digit); an item holding sets or binary is
written in DynamoDB's typed JSON, which the loader reads back exactly. A file
is written only when its bytes differ, whole or not at all.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from inframock.core import console
from inframock.core.files import atomic_file
from inframock.features.pull.remote import PullError, Remote


def pull_documents(remote: Remote, experiment: str, folder: Path) -> dict[str, bool]:
    """The experiment's DynamoDB items as the data folder's JSON files: each
    file's name, and whether it was written (False: it held that already)."""
    env = remote.environment
    experiments = _items(remote, f"experiments-{env}", experiment)
    if not experiments:
        raise PullError(f"no experiment {experiment} in experiments-{env}")
    samples = _items(remote, f"samples-{env}", experiment)
    folder.mkdir(parents=True, exist_ok=True)
    documents = {
        "mock_experiment.json": items_json(experiments[:1], single=True),
        "mock_samples.json": items_json(samples),
        "mock_plots_tables.json": items_json([]),
    }
    project = _project(remote, experiments[0], samples)
    if project is not None:
        documents["mock_projects.json"] = items_json([project], single=True)
    return {
        name: _write_if_changed(folder / name, text.encode())
        for name, text in documents.items()
    }


def _items(remote: Remote, table: str, experiment: str) -> list[dict[str, Any]]:
    """Every item of `experiment` in `table`, in DynamoDB's typed form."""
    pages = remote.dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="experimentId = :id",
        ExpressionAttributeValues={":id": {"S": experiment}},
        ConsistentRead=True,
    )
    return [item for page in pages for item in page["Items"]]


def _project(
    remote: Remote, experiment: dict[str, Any], samples: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The experiment's project item (typed form), or None with a note if absent.

    Its key is the samples item's `projectUuid`, else the experiment's `projectId`.
    """
    table = f"projects-{remote.environment}"
    named = [s.get("projectUuid", {}) for s in samples] + [
        experiment.get("projectId", {})
    ]
    uuid = next((n["S"] for n in named if n.get("S")), None)
    if uuid is None:
        console.note(
            "no projectUuid in the samples nor projectId in the experiment: "
            "no project to pull"
        )
        return None
    try:
        found = remote.dynamodb.get_item(
            TableName=table, Key={"projectUuid": {"S": uuid}}, ConsistentRead=True
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        console.note(f"no table {table}: the experiment comes without its project")
        return None
    if "Item" not in found:
        console.note(f"no project {uuid} in {table}: skipped")
        return None
    item: dict[str, Any] = found["Item"]
    return item


def items_json(items: list[dict[str, Any]], single: bool = False) -> str:
    """Typed items as a data folder file: one object if `single`, else `records`.

    Plain JSON with exact numbers when it can say everything; DynamoDB's typed
    JSON (binary as base64) when an item holds sets or binary, which plain JSON
    cannot tell from lists and strings.
    """
    if any(_typed_only(value) for item in items for value in item.values()):
        typed = [{k: _json_typed(v) for k, v in item.items()} for item in items]
        document: Any = typed[0] if single else {"records": typed}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    deserialize = TypeDeserializer().deserialize
    plain = [{k: deserialize(v) for k, v in item.items()} for item in items]
    return exact_json(plain[0] if single else {"records": plain})


def _typed_only(value: dict[str, Any]) -> bool:
    """True when a typed value holds a set or binary somewhere."""
    ((kind, inner),) = value.items()
    if kind in ("SS", "NS", "BS", "B"):
        return True
    if kind == "M":
        return any(_typed_only(v) for v in inner.values())
    if kind == "L":
        return any(_typed_only(v) for v in inner)
    return False


def _json_typed(value: dict[str, Any]) -> dict[str, Any]:
    """A typed value as JSON can hold it: binary as base64 text."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {kind: base64.b64encode(inner).decode()}
    if kind == "BS":
        return {kind: [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {kind: {k: _json_typed(v) for k, v in inner.items()}}
    if kind == "L":
        return {kind: [_json_typed(v) for v in inner]}
    return value


def exact_json(value: Any) -> str:
    """`value` as indented JSON in which every Decimal keeps all of its digits.

    The json module would turn decimals into floats (0.1 → 0.1000000000000000055…
    in binary); DynamoDB numbers are decimal strings, so they are written as such.
    """
    return "".join(_json_parts(value, "", "$")) + "\n"


def _json_parts(value: Any, indent: str, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        yield from _container(
            "{}",
            indent,
            [
                (f"{json.dumps(k, ensure_ascii=False)}: ", v, f"{path}.{k}")
                for k, v in value.items()
            ],
        )
    elif isinstance(value, list):
        yield from _container(
            "[]", indent, [("", v, f"{path}[{i}]") for i, v in enumerate(value)]
        )
    elif isinstance(value, Decimal):
        yield str(value)
    elif value is None or isinstance(value, (str, bool)):
        yield json.dumps(value, ensure_ascii=False)
    else:
        raise PullError(
            f"{path} is a DynamoDB {type(value).__name__}, which the data folder's "
            "JSON cannot hold"
        )


def _container(
    brackets: str, indent: str, members: list[tuple[str, Any, str]]
) -> Iterator[str]:
    if not members:
        yield brackets
        return
    inner = indent + "  "
    yield brackets[0]
    for index, (prefix, member, path) in enumerate(members):
        yield ("," if index else "") + "\n" + inner + prefix
        yield from _json_parts(member, inner, path)
    yield "\n" + indent + brackets[1]


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless it holds exactly that; True when written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    with atomic_file(path) as stream:
        stream.write(data)
    return True
