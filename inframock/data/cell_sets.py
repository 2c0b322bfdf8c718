"""`mock_cell_sets*.json`: the cell sets document the 2021 API reads from S3.

The API gets `cell-sets-development/<experiment id>` and runs JSON.parse on it,
then walks `cellSets`; a document it cannot parse or walk breaks the whole
experiment in the UI. So the document is checked here with the data folder's
JSON rules (exact numbers, no duplicate keys, no NaN) and for the shape the API
walks, and stored as UTF-8 JSON without a byte order mark (JSON.parse refuses one).
"""

from __future__ import annotations

import json
from typing import Any

from inframock.data.dataset import parse_json
from inframock.core.errors import InframockError


class CellSetsError(InframockError, ValueError):
    """The cell sets file cannot be loaded; the message says where and why."""


def cell_sets_body(raw: bytes) -> bytes:
    """The bytes to store for a cell sets file, or CellSetsError naming the problem."""
    try:
        document = parse_json(raw)
    except json.JSONDecodeError as err:
        raise CellSetsError(
            f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
    except UnicodeDecodeError as err:
        raise CellSetsError(
            f"not UTF-8 text (byte {err.start}): {err.reason}"
        ) from None
    except ValueError as err:
        raise CellSetsError(str(err)) from None
    _check_shape(document)
    return raw.decode("utf-8-sig").encode()


def _check_shape(document: Any) -> None:
    """`{"cellSets": [{"key": …, "children": [{"key": …}, …]}, …]}`: what the
    API walks."""
    if not isinstance(document, dict) or not isinstance(document.get("cellSets"), list):
        raise CellSetsError('expected {"cellSets": [...]}')
    for index, cell_set in enumerate(document["cellSets"]):
        where = f"cellSets[{index}]"
        _check_set(cell_set, where)
        children = cell_set.get("children", [])
        if not isinstance(children, list):
            raise CellSetsError(f"{where}.children must be a list")
        for child_index, child in enumerate(children):
            _check_set(child, f"{where}.children[{child_index}]")


def _check_set(cell_set: Any, where: str) -> None:
    if not isinstance(cell_set, dict):
        raise CellSetsError(f"{where} must be an object")
    if not isinstance(cell_set.get("key"), str) or not cell_set["key"]:
        raise CellSetsError(f'{where} needs a non-empty string "key"')
