"""`as_typed` against boto3's TypeSerializer, which it stands in for on the
loader's hot path: the same typed value for every value a plain JSON table
file can hold, read as the loader reads table files (numbers as exact
Decimals)."""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from inframock.data.dataset import json_decoder
from inframock.data.typed_json import as_typed


class Number(str):
    """A number's JSON text, written as it is."""


NUMBERS = st.one_of(
    st.integers(min_value=-(10**37), max_value=10**37).map(str),
    st.sampled_from(["0", "-0", "1e10", "1.50", "-42.50", "1E-5", "0.000", "2.5e-3"]),
    st.tuples(
        st.integers(-(10**12), 10**12), st.integers(0, 999_999), st.integers(-60, 60)
    ).map(lambda t: f"{t[0]}.{t[1]:06d}e{t[2]}"),
).map(Number)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.text(max_size=10), NUMBERS),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=4),
    max_leaves=25,
)


def _text(value: Any) -> str:
    """`value` as JSON text, its Numbers as written."""
    if isinstance(value, Number):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k)}:{_text(v)}" for k, v in value.items())
            + "}"
        )
    return json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_typed_is_what_type_serializer_makes(value: Any) -> None:
    """Every JSON value, typed as boto3 types it."""
    read = json_decoder().decode(_text(value))
    assert as_typed(read) == TypeSerializer().serialize(read)


def test_numbers_keep_their_written_form() -> None:
    """Trailing zeros and exponents stay as written, as TypeSerializer keeps them."""
    read = json_decoder().decode("[1.50, -42.50, 1e10, -0]")
    assert as_typed(read) == {
        "L": [{"N": "1.50"}, {"N": "-42.50"}, {"N": "1E+10"}, {"N": "-0"}]
    }
    assert as_typed(read) == TypeSerializer().serialize(read)


def test_other_types_are_type_serializers() -> None:
    """A set or bytes (never read from JSON) is typed by TypeSerializer itself."""
    assert as_typed({"tags": {"a"}, "blob": b"\x00"}) == {
        "M": {"tags": {"SS": ["a"]}, "blob": {"B": b"\x00"}}
    }
