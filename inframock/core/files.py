"""Files that are either whole or absent: the one way inframock writes its own.

The run record, the load digests and pulled data files are all replaced by a
rename of a complete temporary file beside them, so a reader (or a crash, or a
Ctrl-C) never sees half of one.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A hidden temporary file beside `path`, renamed onto it once complete.

    On any failure (including Ctrl-C) the temporary file is removed, so `path`
    holds either the old content or the whole new one. The folder is created
    if need be.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("xb") as stream:  # the user's umask, unlike mkstemp's 0600
            yield stream
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, content: str | bytes) -> None:
    """Replace `path` with `content` (text is written as UTF-8), whole or not at all."""
    with atomic_file(path) as stream:
        stream.write(content.encode() if isinstance(content, str) else content)
