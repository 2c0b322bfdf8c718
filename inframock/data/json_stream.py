"""The records of a table file, read one at a time from its bytes.

A table file (`{"records": [...]}`, or one object) can be hundreds of MB, and
parsing it whole costs many times its size in Python objects. Only the outer
document is walked here; each record is parsed by the same decoder that
`parse_json` uses (exact Decimals, duplicate keys and NaN refused), so every
record means what it meant read whole, and a file that is not JSON is refused
with the line and column `json` gives, while memory holds one record (and the
read-ahead), whatever the file's size.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, BinaryIO, Callable, Iterator

from inframock.data.dataset import exact_number, json_decoder, json_type
from inframock.core.errors import InframockError

CHUNK = 1024 * 1024
MAX_RECORD_TEXT = 64 * 1024 * 1024
"""A record whose JSON text is longer than this is no DynamoDB item (400 KB):
a parse error within it is reported instead of reading on."""
WHITESPACE = " \t\n\r"


class NotRecords(InframockError, ValueError):
    """The file is not JSON records; the message says where and why."""


class RecordStream:
    """Iterate the records of a table file: `{"records": [...]}` or one object.

    `advance(bytes)` is told of every chunk read (progress, digests);
    `numbers` reads each number (`str` is faster, when only the form counts).
    """

    def __init__(
        self,
        stream: BinaryIO,
        advance: Callable[[bytes], None],
        numbers: Callable[[str], Any] = exact_number,
    ) -> None:
        self._stream = stream
        self._advance = advance
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._decode = json_decoder(numbers).raw_decode
        self._read = 0
        self._text = ""
        self._at = 0
        self._eof = False
        self._lines = 0
        """Newlines in the text already dropped from the buffer."""
        self._column = 0
        """Characters after the last dropped newline."""

    def __iter__(self) -> Iterator[Any]:
        if self._peek() != "{":
            document = self._value()
            self._end()
            raise NotRecords(f"expected a JSON object, found {json_type(document)}")
        self._at += 1
        document: dict[str, Any] = {}
        records = False
        while (key := self._key(first=not document and not records)) is not None:
            if key in document or (key == "records" and records):
                raise NotRecords(f"duplicate key {key!r} in a JSON object")
            if key == "records" and self._peek() == "[":
                records = True
                yield from self._array()
            elif key == "records":
                found = json_type(self._value())
                raise NotRecords(f'"records" must be a list, found {found}')
            else:
                document[key] = self._value()
        self._end()
        if not records:
            yield document

    def _key(self, first: bool) -> str | None:
        """The next key of the outer object (after its ':'), None at its end."""
        char = self._peek()
        if char == "}":
            self._at += 1
            return None
        if not first:
            if char != ",":
                self._fail("Expecting ',' delimiter")
            self._at += 1
            char = self._peek()
        if char != '"':
            self._fail("Expecting property name enclosed in double quotes")
        key = self._value()
        if self._peek() != ":":
            self._fail("Expecting ':' delimiter")
        self._at += 1
        return key

    def _array(self) -> Iterator[Any]:
        """The members of the list that starts here, one at a time."""
        self._at += 1
        if self._peek() == "]":
            self._at += 1
            return
        while True:
            yield self._value()
            char = self._peek()
            self._at += 1
            if char == "]":
                return
            if char != ",":
                self._at -= 1
                self._fail("Expecting ',' delimiter")

    def _value(self) -> Any:
        """Decode the JSON value that starts here, reading on until it is whole."""
        self._peek()
        while True:
            self._drop_read()
            try:
                value, end = self._decode(self._text, self._at)
            except json.JSONDecodeError as err:
                if self._eof or len(self._text) - self._at > MAX_RECORD_TEXT:
                    self._fail(err.msg, err.pos)
            except ValueError as err:  # duplicate keys, NaN: whole, so for real
                raise NotRecords(str(err)) from None
            except RecursionError:
                raise NotRecords("JSON nested too deeply to read") from None
            else:
                if end < len(self._text) or self._eof:  # a number may go on
                    self._at = end
                    return value
            self._fill(max(CHUNK, len(self._text) - self._at))

    def _end(self) -> None:
        """Nothing but whitespace may follow the document."""
        if self._peek() != "":
            self._fail("Extra data")

    def _peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file)."""
        while True:
            while self._at < len(self._text) and self._text[self._at] in WHITESPACE:
                self._at += 1
            if self._at < len(self._text) or self._eof:
                return self._text[self._at : self._at + 1]
            self._fill(CHUNK)

    def _fill(self, size: int) -> None:
        """Read about `size` more bytes into the text."""
        self._drop_read()
        data = self._stream.read(size)
        self._advance(data)
        pending = len(self._decoder.getstate()[0])
        try:
            self._text += self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as err:
            byte = self._read - pending + err.start
            raise NotRecords(f"not UTF-8 text (byte {byte}): {err.reason}") from None
        self._read += len(data)
        self._eof = not data

    def _drop_read(self) -> None:
        """Forget the text before the current position, counting its lines."""
        done = self._text[: self._at]
        newlines = done.count("\n")
        if newlines:
            self._lines += newlines
            self._column = len(done) - done.rindex("\n") - 1
        else:
            self._column += len(done)
        self._text = self._text[self._at :]
        self._at = 0

    def _fail(self, message: str, position: int | None = None) -> None:
        """NotRecords for a parse error at `position` of the text, as `json` says it."""
        at = self._at if position is None else position
        before = self._text[:at]
        line = self._lines + before.count("\n") + 1
        if "\n" in before:
            column = at - before.rindex("\n")
        else:
            column = self._column + at + 1
        raise NotRecords(f"malformed JSON at line {line}, column {column}: {message}")
