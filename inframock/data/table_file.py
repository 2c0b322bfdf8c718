"""The items of one table file, streamed: one record in memory, whatever its size.

Whether a file is typed JSON depends on all its records, and among records
with the same key the last good one wins, as successive puts would. So a
first pass reads the file through before anything is written: it checks that
it is JSON records, decides their form, notes where each key comes last, and
takes the file's digest. The second pass checks each record and hands on the
good ones as typed items; a good one whose key comes again later is held back
until the end, in case none of the later ones is good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from inframock.data.dataset import Checked, Problem, check_plain, plain_key
from inframock.data.digests import FileMark, new_hash
from inframock.data.json_stream import NotRecords, RecordStream
from inframock.data.typed_json import as_typed, check_typed, is_typed_record, typed_key
from inframock.model.stack import Table


class TableItems:
    """A table file's good items (iterate, after `scan`); `problems` for the rest."""

    def __init__(
        self,
        experiment: str,
        path: Path,
        table: Table,
        advance: Callable[[int], None],
    ) -> None:
        """`advance(bytes)` is told of every chunk read, in both passes."""
        self.experiment = experiment
        self.path = path
        self.table = table
        self.advance = advance
        self.problems: list[Problem] = []
        self.identity: tuple[int, int, int, int] | None = None
        """The file's (size, mtime, ctime, inode) when the first pass opened it."""
        self.digest = ""
        self._typed = False
        self._last: dict[int, int] = {}
        """Hash of a key → the index of the last record with it (a hash shared
        by two keys only holds a record back longer)."""

    def scan(self) -> bool:
        """The first pass; False (and a problem) if the file is not JSON records.

        OSError if the file cannot be read.
        """
        digest = new_hash()
        typed: dict[int, int] | None = {}
        plain: dict[int, int] = {}
        count = 0

        def seen(data: bytes) -> None:
            digest.update(data)
            self.advance(len(data))

        with self.path.open("rb") as stream:
            self.identity = FileMark.stat_of(stream)
            try:
                # Numbers as text: they do not decide the form, nor the keys.
                records = RecordStream(stream, seen, numbers=str)
                for count, record in enumerate(records, 1):
                    index = count - 1
                    if typed is not None and is_typed_record(record):
                        _note(typed, typed_key(record, self.table), index)
                    else:
                        typed = None
                    _note(plain, plain_key(record, self.table), index)
            except NotRecords as err:
                self._problem(str(err))
                return False
        self._typed = typed is not None and count > 0
        self._last = typed if typed is not None and self._typed else plain
        self.digest = digest.hexdigest()
        return True

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any], int]]:
        """The second pass: each good item (label, typed item, size), in order."""
        held: dict[tuple[str, ...], tuple[str, dict[str, Any], int]] = {}
        with self.path.open("rb") as stream:
            if FileMark.stat_of(stream) != self.identity:
                self._problem("changed while it was loaded: reload to load it")
                return
            records = RecordStream(stream, lambda data: self.advance(len(data)))
            try:
                for index, record in enumerate(records):
                    checked = self._check(record, index)
                    if checked.item is None:
                        self._problem(str(checked.reason), checked.label)
                        continue
                    item = checked.item
                    if not self._typed:
                        item = as_typed(item)["M"]
                    good = (checked.label, item, checked.size)
                    if self._last.get(hash(checked.key), index) > index:
                        held[checked.key] = good
                        continue
                    held.pop(checked.key, None)
                    yield good
            except NotRecords as err:  # only if it changed since the first pass
                self._problem(str(err))
                return
        yield from held.values()

    def _check(self, record: Any, index: int) -> Checked:
        if self._typed:
            return check_typed(record, index, self.table)
        return check_plain(record, index, self.table)

    def _problem(self, reason: str, record: str = "") -> None:
        self.problems.append(Problem(self.experiment, self.path.name, reason, record))


def _note(last: dict[int, int], key: tuple[str, ...] | None, index: int) -> None:
    if key is not None:
        last[hash(key)] = index
