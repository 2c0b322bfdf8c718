"""Read the data folder into a plan of experiments and files, and validate records.

Pure functions over the file system: nothing here talks to a server, so every
rule of the data format (which file goes where, what makes a record bad) can
be tested on its own and reported before anything is written.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from inframock.model.stack import DataRules, Table

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit, counted as DynamoDB counts it."""
MAX_DEPTH = 32
"""DynamoDB's limit on nested attributes (maps and lists)."""

DYNAMODB_TYPES = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})
"""The type descriptors of DynamoDB's typed JSON (`{"S": "text"}`, `{"N": "1"}`…)."""
EXPERIMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something wrong with the input, located as precisely as it can be."""

    experiment: str
    file: str
    reason: str
    record: str = ""

    def __str__(self) -> str:
        where = "/".join(part for part in (self.experiment, self.file) if part)
        record = f" {self.record}:" if self.record else ""
        return f"{where}:{record} {self.reason}"


@dataclasses.dataclass(frozen=True)
class TableFile:
    """A JSON file of items for one table kind."""

    path: Path
    kind: str


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One sub-folder of the data folder and the files inframock will load from it."""

    id: str
    path: Path
    table_files: tuple[TableFile, ...]
    rds: Path | None
    """The source `r.rds.gz` (its name is the profile's `DataRules.source_file`)."""
    ignored: tuple[str, ...]
    problems: tuple[Problem, ...] = ()
    processed_matrix: Path | None = None
    """`processed-matrix.r.rds.gz`: the worker's matrix, when not the `r.rds`."""
    cell_sets: Path | None = None
    """`mock_cell_sets*.json`: the cell sets document the API reads from S3."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a load will do, and what was wrong before it started."""

    experiments: tuple[Experiment, ...]
    problems: tuple[Problem, ...]


def table_kind(filename: str, rules: DataRules) -> str | None:
    """The table kind a file name loads into, or None if it is not a table file."""
    for pattern, kind in rules.table_files:
        if fnmatch.fnmatchcase(filename, pattern):
            return kind
    return None


def plan(data_path: Path, rules: DataRules) -> Plan:
    """Walk `data_path` into experiments, the files of each found by `rules`;
    unusable folders become problems."""
    if not data_path.exists():
        return Plan((), (Problem("", str(data_path), "data folder does not exist"),))
    if not data_path.is_dir():
        return Plan((), (Problem("", str(data_path), "data path is not a folder"),))
    root = data_path.resolve()
    experiments, problems = [], []
    for entry in _entries(data_path):
        if reason := _link_problem(entry, root):
            problems.append(Problem(entry.name, "", reason))
        elif not entry.is_dir():
            continue
        elif not EXPERIMENT_ID.fullmatch(entry.name):
            reason = "not a valid experiment id (letters, digits, '-' and '_' only)"
            problems.append(Problem(entry.name, "", reason))
        else:
            experiments.append(_experiment(entry, root, rules))
    return Plan(tuple(experiments), tuple(problems))


def _entries(folder: Path) -> list[Path]:
    """The visible entries of a folder, sorted (hidden files are silently skipped)."""
    return sorted(e for e in folder.iterdir() if not e.name.startswith("."))


def _link_problem(entry: Path, root: Path) -> str | None:
    """Why a symlink cannot be followed: broken, a loop, or leading outside `root`."""
    if not entry.is_symlink():
        return None
    try:
        target = entry.resolve(strict=True)
    except (OSError, RuntimeError):
        return "broken symlink or symlink loop"
    if not target.is_relative_to(root):
        return f"symlink to {target}, outside the data folder"
    return None


def _experiment(folder: Path, root: Path, rules: DataRules) -> Experiment:
    table_files, ignored, problems = [], [], []
    # The files an experiment has at most one of: r.rds, matrix, cell sets.
    singles: dict[str, Path] = {}
    for entry in _entries(folder):
        kind = table_kind(entry.name, rules)
        single = _single_kind(entry.name, rules)
        if reason := _link_problem(entry, root):
            problems.append(Problem(folder.name, entry.name, reason))
        elif kind and entry.is_file():
            table_files.append(TableFile(entry, kind))
        elif single and entry.is_file():
            if single in singles:
                reason = (
                    f"{singles[single].name} already goes to the same S3 object; "
                    "an experiment has one cell sets file"
                )
                problems.append(Problem(folder.name, entry.name, reason))
            else:
                singles[single] = entry
        else:
            ignored.append(entry.name)
    return Experiment(
        folder.name,
        folder,
        tuple(table_files),
        singles.get(rules.source_file),
        tuple(ignored),
        tuple(problems),
        processed_matrix=singles.get(rules.matrix_file),
        cell_sets=singles.get(rules.cell_sets_pattern),
    )


def _single_kind(filename: str, rules: DataRules) -> str | None:
    """Which one-per-experiment file `filename` is (by its name or pattern)."""
    if filename in (rules.source_file, rules.matrix_file):
        return filename
    if fnmatch.fnmatchcase(filename, rules.cell_sets_pattern):
        return rules.cell_sets_pattern
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number DynamoDB can store")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        names = [name for name, _ in pairs]
        duplicate = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"duplicate key {duplicate!r} in a JSON object")
    return document


def exact_number(text: str) -> Decimal:
    """A JSON number as an exact Decimal that DynamoDB's 38-digit context takes.

    Trailing zeros past 38 digits (`1` and sixty `0`s) carry no precision; they
    move into the exponent, so the value stays exact and storable.
    """
    number = Decimal(text)
    if len(text) <= 38:  # at most 38 digits: nothing to move (most numbers)
        return number
    sign, digits, exponent = number.as_tuple()
    kept = len(digits)
    while kept > 38 and digits[kept - 1] == 0:
        kept -= 1
    if kept == len(digits):
        return number
    return Decimal((sign, digits[:kept], int(exponent) + len(digits) - kept))


def json_decoder(numbers: Callable[[str], Any] = exact_number) -> json.JSONDecoder:
    """The decoder of data files: every number read by `numbers` (an exact
    Decimal); duplicate keys and NaN/Infinity are errors rather than silently
    lost data."""
    return json.JSONDecoder(
        parse_float=numbers,
        parse_int=numbers,
        parse_constant=_reject_constant,
        object_pairs_hook=_unique_keys,
    )


def parse_json(raw: bytes) -> Any:
    """Parse a whole JSON document with `json_decoder`; errors say where."""
    text = raw.decode("utf-8-sig")
    try:
        return json_decoder().decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


@dataclasses.dataclass(frozen=True)
class Checked:
    """One record of a table file, checked: its label, and its item or why not."""

    label: str
    item: dict[str, Any] | None = None
    """The item as DynamoDB will take it (plain values here, typed in typed_json)."""
    key: tuple[str, ...] = ()
    reason: str | None = None
    size: int = 0
    """The item's size as DynamoDB counts it."""


def check_plain(record: Any, index: int, table: Table) -> Checked:
    """A plain-JSON record as DynamoDB will accept it, or why it will not."""
    reason = _key_problem(record, table)
    size = 0
    if reason is None:
        reason, size = check_values(record)
    if reason is not None:
        return Checked(f"record {index}", reason=reason)
    label = f"record {index} ({_describe_key(record, table)})"
    if reason := size_problem(size):
        return Checked(label, reason=reason)
    return Checked(label, record, tuple(record[k] for k in table.key_names), size=size)


def size_problem(size: int) -> str | None:
    """Why DynamoDB would refuse an item of `size` bytes, or None."""
    if size <= MAX_ITEM_BYTES:
        return None
    return f"item is {size:,} bytes, over DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit"


def plain_key(record: Any, table: Table) -> tuple[str, ...] | None:
    """The key of a plain record, if it has one (before it is checked)."""
    if not isinstance(record, dict):
        return None
    key = tuple(record.get(k) for k in table.key_names)
    return key if all(isinstance(part, str) for part in key) else None


def _describe_key(record: dict[str, Any], table: Table) -> str:
    return ", ".join(f"{k}={record[k]}" for k in table.key_names)


def _key_problem(record: Any, table: Table) -> str | None:
    if not isinstance(record, dict):
        return f"expected a JSON object, found {json_type(record)}"
    for key in table.key_names:
        if key not in record:
            return f"missing key attribute {key!r}"
        if not isinstance(record[key], str) or not record[key]:
            hint = ""
            if is_typed_value(record[key]):
                hint = (
                    " (it is in DynamoDB's typed form: a file is read as typed "
                    "JSON only when every record is)"
                )
            return f"key attribute {key!r} must be a non-empty string{hint}"
    return None


def is_typed_value(value: Any) -> bool:
    """True for an attribute value in DynamoDB's typed form, e.g. `{"S": "x"}`."""
    return isinstance(value, dict) and len(value) == 1 and set(value) <= DYNAMODB_TYPES


def check_values(record: dict[str, Any]) -> tuple[str | None, int]:
    """What DynamoDB would refuse in an item's values, found without recursion,
    and the item's size as DynamoDB charges it (its documented rules: a
    string's bytes, a number's (significant digits + 1) // 2 + 1, 1 for a
    boolean or null, 3 for a map or list and 1 for each value in one, each
    attribute's name). One walk: each number's digits are counted once."""
    if "" in record:
        return "an attribute name is empty", 0
    size = sum(len(name.encode()) for name in record)
    pending: list[tuple[Any, int]] = [(value, 2) for value in record.values()]
    while pending:
        current, depth = pending.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than DynamoDB's {MAX_DEPTH} levels", 0
        if isinstance(current, str):
            size += len(current.encode())
        elif isinstance(current, bool) or current is None:
            size += 1
        elif isinstance(current, Decimal):
            reason, digits = _number_checked(current)
            if reason:
                return reason, 0
            size += (digits + 1) // 2 + 1
        elif isinstance(current, dict):
            if "" in current:
                return "an attribute name is empty", 0
            size += 3 + sum(len(name.encode()) + 1 for name in current)
            pending += [(child, depth + 1) for child in current.values()]
        elif isinstance(current, list):
            size += 3 + len(current)
            pending += [(child, depth + 1) for child in current]
        else:
            raise TypeError(f"unexpected JSON value {current!r}")
    return None, size


def significant_digits(number: Decimal) -> int:
    """Digits DynamoDB stores: leading and trailing zeros trimmed, nothing rounded.

    (`Decimal.normalize` would round to the context's 28 digits first.) A
    Decimal's coefficient has no leading zeros, but zero's own.
    """
    digits = number.as_tuple().digits
    end = len(digits)
    while end > 1 and digits[end - 1] == 0:
        end -= 1
    return end


def number_problem(number: Decimal) -> str | None:
    """Why DynamoDB would refuse `number`, or None if it stores it exactly."""
    return _number_checked(number)[0]


def _number_checked(number: Decimal) -> tuple[str | None, int]:
    """Why DynamoDB would refuse `number` (or None), and its significant
    digits (0 for one that is not finite), counted once for the check and
    the item's size."""
    if not number.is_finite():
        return f"number {number} cannot be stored", 0
    digits = significant_digits(number)
    if digits > 38 or not -130 <= number.adjusted() <= 125:
        return f"number {number} is beyond DynamoDB's 38-digit range", digits
    return None, digits


def json_type(value: Any) -> str:
    """What kind of JSON value `value` is, as a message says it."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
