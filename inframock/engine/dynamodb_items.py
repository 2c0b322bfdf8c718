"""DynamoDB items to and from JSON in one pass, not moto's walk of the model.

moto 5.2.5 parses every request and serializes every response by walking the
botocore model. An item's `AttributeValue` is a structure of ten members (S,
N, B, SS, NS, BS, M, L, NULL, BOOL), and at every level of nesting moto's
serializer asks its attribute picker for each of the ten, trying up to a
dozen aliases apiece, and its parser looks each of the ten up in every value.
A Query of 11 plots (2.5 MB of `plotData: [{"x": 1.2, "cellId": 5, ...}]`)
took 18 s in process and 38 s on the engine on two busy cores, 71% of it in
that walk; the Cellenics API and worker read these tables on every plot.

Yet an item on the wire is the very JSON of the dict moto holds, but for
blobs: base64 text on the wire, bytes inside moto. So `to_wire` and
`from_wire` convert a whole `AttributeValue` in one recursive pass: every
dict with one known tag holding the type moto puts there (a `str` for S and
N, a `bool` for NULL and BOOL, lists and dicts of those). Anything else (a
DynamoType, None, two tags, a number where moto expects a string, a nested
map key moto serializes oddly, base64 that does not decode) raises
`NotPlain`, and moto's own code handles that value as before, its nested
values coming back here. The result is what moto's walk gives, byte for byte:
tests/stack/test_dynamodb_items.py compares the raw bodies of every read of every
attribute type from a plain moto server and the stack (patch
`dynamodb-items`, inframock/engine/patches/at_start.py).
"""

from __future__ import annotations

import binascii
import functools
from typing import Any, Callable

SERVICES = frozenset({"dynamodb", "dynamodbstreams"})
"""The services whose `AttributeValue` shape this module knows."""
SHAPE = "AttributeValue"
_SCALARS = {"S": str, "N": str, "NULL": bool, "BOOL": bool}
_SETS = {"SS": str, "NS": str}


class NotPlain(Exception):
    """A value this module does not convert: moto's own code does."""


def _converter(blob: type, convert_blob: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A converter of `AttributeValue`s whose blobs are of type `blob` (bytes
    in moto, str on the wire), turned into the other by `convert_blob`.

    Types are compared exactly: a subclass (an Enum's str, a dict of moto's)
    is moto's to convert, its way."""
    # pylint: disable=unidiomatic-typecheck

    def convert(value: Any) -> Any:
        if type(value) is not dict or len(value) != 1:
            raise NotPlain
        ((tag, inner),) = value.items()
        kind = type(inner)
        if tag == "M" and kind is dict:
            if "" in inner:  # moto writes such a member's tags into the map
                raise NotPlain
            return {"M": {name: convert(member) for name, member in inner.items()}}
        if tag == "L" and kind is list:
            return {"L": [convert(member) for member in inner]}
        if _SCALARS.get(tag) is kind:
            return value  # immutable inside: shared, not copied
        if kind is list and tag in _SETS:
            if any(type(member) is not str for member in inner):
                raise NotPlain
            return {tag: list(inner)}
        if tag == "B" and kind is blob:
            return {"B": convert_blob(inner)}
        if tag == "BS" and kind is list:
            if any(type(member) is not blob for member in inner):
                raise NotPlain
            return {"BS": [convert_blob(member) for member in inner]}
        raise NotPlain

    return convert


def to_wire(base64: Callable[[bytes], str]) -> Callable[[Any], Any]:
    """Serializing: moto's value (blobs as bytes) as the JSON moto sends,
    blobs encoded by `base64` (the serializer's own)."""
    return _converter(bytes, base64)


def from_wire(b64decode: Callable[[str], bytes]) -> Callable[[Any], Any]:
    """Parsing: the request's JSON value as moto parses it, blobs decoded by
    `b64decode` (the parser's own); text that is not base64 is moto's to
    refuse."""

    def decode(text: str) -> bytes:
        try:
            return b64decode(text)
        except (binascii.Error, ValueError) as err:
            raise NotPlain from err

    return _converter(str, decode)


def _picked_plainly(serializer: Any) -> bool:
    """No response transformer could change a value inside an item (none is
    registered for DynamoDB in moto 5.2.5)."""
    # pylint: disable-next=protected-access
    return not getattr(serializer._value_picker, "response_transformers", None)


def serialize_directly(moto_structure: Callable[..., None]) -> Callable[..., None]:
    """moto's JSON serializer of structures, sending each DynamoDB
    `AttributeValue` it recognises in one pass (`to_wire`)."""

    @functools.wraps(moto_structure)
    def structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            key
            and shape.name == SHAPE
            and self.service_model.service_name in SERVICES
            and _picked_plainly(self)
        ):
            # pylint: disable=protected-access
            try:
                wire = to_wire(self._base64)(value)
            except NotPlain:
                pass
            else:
                self._default_serialize(serialized, wire, shape, key)
                return
        moto_structure(self, serialized, value, shape, key)

    return structure


def parse_directly(moto_structure: Callable[..., Any]) -> Callable[..., Any]:
    """moto's JSON parser of structures, reading each DynamoDB
    `AttributeValue` it recognises in one pass (`from_wire`)."""

    @functools.wraps(moto_structure)
    def structure(self: Any, shape: Any, value: Any) -> Any:
        if (
            shape.name == SHAPE
            and self.operation_model.service_model.service_name in SERVICES
            and self.MAP_TYPE is dict
        ):
            try:
                # pylint: disable-next=protected-access
                return from_wire(self._blob_parser)(value)
            except NotPlain:
                pass
        return moto_structure(self, shape, value)

    return structure
