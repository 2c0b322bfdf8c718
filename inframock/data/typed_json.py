"""Table files in DynamoDB's typed JSON: the checks of a typed record.

Exports made with the DynamoDB API (the 2021 sync tool, `aws dynamodb scan`)
write each value with its type: `{"S": "text"}`, `{"N": "1.5"}`, `{"SS": ["a"]}`.
Plain JSON cannot say "string set": `rbac_can_write` read as plain JSON would
load as a list, and the API's set updates on it would then fail. So a file whose
records are all typed attribute maps is loaded exactly as written, after the
checks DynamoDB itself makes, each problem named by file, record and attribute.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal
from typing import Any, Callable

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeSerializer

from inframock.data.dataset import (
    MAX_DEPTH,
    Checked,
    is_typed_value,
    number_problem,
    significant_digits,
    size_problem,
)
from inframock.model.stack import Table
from inframock.core.errors import InframockError

_SERIALIZER = TypeSerializer()

NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
"""A number as DynamoDB takes it in `N`: no NaN, Infinity or blanks."""


def as_typed(value: Any) -> dict[str, Any]:
    """A value read from a plain JSON table file in typed form: what boto3's
    `TypeSerializer` makes of it, in one pass.

    The loader types every value of every plain record, and TypeSerializer's
    dispatch (each value tried against each of its ten types) took half of the
    supervisor's time on the default experiment's plots. JSON gives only the
    six types of `_TYPED` (numbers as Decimals); anything else is
    TypeSerializer's. tests/unit/test_typed_json.py compares the two.
    """
    convert = _TYPED.get(type(value))
    return convert(value) if convert else _SERIALIZER.serialize(value)


_TYPED: dict[type, Callable[[Any], dict[str, Any]]] = {
    str: lambda value: {"S": value},
    Decimal: lambda value: {"N": str(DYNAMODB_CONTEXT.create_decimal(value))},
    dict: lambda value: {"M": {k: as_typed(v) for k, v in value.items()}},
    list: lambda value: {"L": [as_typed(v) for v in value]},
    bool: lambda value: {"BOOL": value},
    type(None): lambda _: {"NULL": True},
}
"""Each JSON value's type (exactly: a subclass is TypeSerializer's), typed."""


def is_typed_record(record: Any) -> bool:
    """True for a non-empty object all of whose values are typed values."""
    return (
        isinstance(record, dict)
        and bool(record)
        and all(is_typed_value(v) for v in record.values())
    )


def check_typed(record: dict[str, Any], index: int, table: Table) -> Checked:
    """A typed record as boto3 sends it to DynamoDB, or why DynamoDB would refuse it."""
    reason = _key_problem(record, table)
    if reason is not None:
        return Checked(f"record {index}", reason=reason)
    label = f"record {index} ({_describe_key(record, table)})"
    try:
        item = {k: _checked(v, k, 1) for k, v in record.items()}
    except _Refused as refused:
        return Checked(label, reason=str(refused))
    size = typed_item_size(item)
    if reason := size_problem(size):
        return Checked(label, reason=reason)
    return Checked(
        label, item, tuple(record[k]["S"] for k in table.key_names), size=size
    )


def typed_key(record: dict[str, Any], table: Table) -> tuple[str, ...] | None:
    """The key of a typed record, if it has one (before it is checked)."""
    key = []
    for name in table.key_names:
        value = record.get(name)
        if not isinstance(value, dict) or not isinstance(value.get("S"), str):
            return None
        key.append(value["S"])
    return tuple(key)


def _key_problem(record: dict[str, Any], table: Table) -> str | None:
    if "" in record:
        return "an attribute name is empty"
    for key in table.key_names:
        if key not in record:
            return f"missing key attribute {key!r}"
        value = record[key]
        if "S" not in value or not isinstance(value["S"], str) or not value["S"]:
            return f'key attribute {key!r} must be a non-empty string {{"S": …}}'
    return None


def _describe_key(record: dict[str, Any], table: Table) -> str:
    return ", ".join(f"{k}={record[k]['S']}" for k in table.key_names)


class _Refused(InframockError, ValueError):
    """A typed value DynamoDB would refuse; the message names the attribute."""


def _checked(value: Any, path: str, depth: int) -> Any:
    """`value` as boto3 sends it (binary decoded), or _Refused saying why not.

    Recursion is bounded: deeper than MAX_DEPTH is refused before going on.
    """
    if depth > MAX_DEPTH:
        raise _Refused(f"attribute {path}: nested deeper than {MAX_DEPTH} levels")
    if not is_typed_value(value):
        raise _Refused(
            f'attribute {path}: expected a typed value such as {{"S": …}}, '
            f"found {_shown(value)}"
        )
    ((kind, inner),) = value.items()
    where = f"attribute {path}: {kind}"
    if kind == "M":
        if not isinstance(inner, dict):
            raise _Refused(f"{where} must be an object")
        if "" in inner:
            raise _Refused(f"{where} has an empty attribute name")
        return {
            "M": {k: _checked(v, f"{path}.{k}", depth + 1) for k, v in inner.items()}
        }
    if kind == "L":
        if not isinstance(inner, list):
            raise _Refused(f"{where} must be a list")
        return {
            "L": [_checked(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(inner)]
        }
    if kind in ("SS", "NS", "BS"):
        return {kind: _set(inner, kind[0], where)}
    return {kind: _scalar(inner, kind, where)}


def _set(members: Any, kind: str, where: str) -> list[Any]:
    if not isinstance(members, list) or not members:
        raise _Refused(f"{where} must be a non-empty list (DynamoDB has no empty set)")
    values = [_scalar(member, kind, where) for member in members]
    distinct = {Decimal(v) if kind == "N" else v for v in values}
    if len(distinct) != len(values):
        raise _Refused(f"{where} holds the same member twice")
    return values


def _scalar(inner: Any, kind: str, where: str) -> Any:
    if kind == "BOOL":
        if not isinstance(inner, bool):
            raise _Refused(f"{where} must be true or false")
        return inner
    if kind == "NULL":
        if inner is not True:
            raise _Refused(f"{where} must be true")
        return inner
    if not isinstance(inner, str):
        raise _Refused(f"{where} must be a string, found {_shown(inner)}")
    if kind == "N":
        if not NUMBER.fullmatch(inner):
            raise _Refused(f"{where} {inner!r} is not a number")
        if reason := number_problem(Decimal(inner)):
            raise _Refused(f"{where} {reason}")
    if kind == "B":
        try:
            return base64.b64decode(inner, validate=True)
        except binascii.Error:
            raise _Refused(f"{where} is not base64") from None
    return inner


def _shown(value: Any) -> str:
    """A value as the JSON it was read from, cut short."""
    if isinstance(value, Decimal):
        text = str(value)
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "…"


def typed_item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB charges a checked typed item, per its documented rules."""
    return sum(len(k.encode()) + _typed_size(v) for k, v in item.items())


def _typed_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "M":
        return 3 + sum(len(k.encode()) + _typed_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_typed_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(_scalar_size(kind[0], member) for member in inner)
    return _scalar_size(kind, inner)


def _scalar_size(kind: str, inner: Any) -> int:
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (significant_digits(Decimal(inner)) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    return 1  # BOOL, NULL
