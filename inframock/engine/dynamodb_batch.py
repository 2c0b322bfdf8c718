"""BatchWriteItem's duplicate check by primary key, as AWS makes it.

AWS refuses a BatchWriteItem in which two requests for one table name the
same item, by its primary key: two puts, two deletes, or a put and a delete
(ValidationException "Provided list of item keys contains duplicates"; it is
why boto3's batch writer has `overwrite_by_pkeys`). moto 5.2.5 compares the
requests' whole items instead, each written out as JSON: two puts of one key
with different attributes go through (the later one wins), so do a put and a
delete of one item, and writing out big items cost about a tenth of the
engine's time to load the default experiment's plots.

Here the check is by key, before moto's method runs (`keys_checked`); moto's
own comparison, which cannot fire once this one passed, gets a token per
request in place of its JSON (`distinct`). A request this check cannot read
(a missing key attribute, a shape moto refuses) is left to moto's own
validation. Patch `dynamodb-batch-keys` (inframock.engine.patches.at_start);
tests/stack/test_dynamodb_batch.py says when plain moto checks keys itself.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Hashable, Iterable

from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models.dynamo_type import DynamoType

DUPLICATES = "Provided list of item keys contains duplicates"
"""AWS's message (and moto's) for a batch naming one item twice."""


def keys_checked(batch_write_item: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """moto's `DynamoHandler.batch_write_item`, refusing first a batch that
    names one item twice in a table."""

    @functools.wraps(batch_write_item)
    def checked(self: Any) -> Any:
        for table_name, requests in self.body.get("RequestItems", {}).items():
            table = self.dynamodb_backend.get_table(table_name)
            if _repeats(_key(table, request) for request in requests):
                raise MockValidationException(DUPLICATES)
        return batch_write_item(self)

    return checked


def distinct(value: Any) -> int:
    """In place of moto's JSON of each request's item or key, for its own
    duplicate check: a token of that request alone."""
    return id(value)


def _repeats(keys: Iterable[Hashable | None]) -> bool:
    """True when a key (None: unread) comes twice."""
    seen: set[Hashable] = set()
    for key in keys:
        if key is None:
            continue
        if key in seen:
            return True
        seen.add(key)
    return False


def _key(table: Any, request: Any) -> Hashable | None:
    """The primary key a put or delete request names (its values as moto
    compares them: `N` by number), or None if it does not read as one."""
    if not isinstance(request, dict) or len(request) != 1:
        return None
    ((kind, body),) = request.items()
    field = {"PutRequest": "Item", "DeleteRequest": "Key"}.get(kind)
    item = body.get(field) if field and isinstance(body, dict) else None
    if not isinstance(item, dict):
        return None
    names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
    values = [item.get(name) for name in names]
    if not all(isinstance(value, dict) and len(value) == 1 for value in values):
        return None
    key = tuple(DynamoType(value) for value in values)
    try:
        hash(key)  # a number that is none, a map: moto's to refuse
    except (TypeError, ValueError, ArithmeticError):
        return None
    return key
