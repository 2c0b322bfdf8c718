"""R's serialisation of a numeric matrix, written by hand: an `.rds` without R.

The default experiment (`default`) needs an `r.rds` that R's `readRDS()`
opens, and inframock does not depend on R: this writes the one object it
needs, `matrix(…, dimnames = list(genes, cells))`, in R's format (R
Internals, "Serialization formats": XDR, version 2), streamed column by
column. It knows nothing of the experiment it serialises.
"""

from __future__ import annotations

import struct
from typing import Iterator

_REALSXP, _INTSXP, _STRSXP, _VECSXP, _LISTSXP, _SYMSXP, _CHARSXP = (
    14,
    13,
    16,
    19,
    2,
    1,
    9,
)
_HAS_ATTR, _HAS_TAG = 1 << 9, 1 << 10
_ASCII = 64 << 12
_NILVALUE = 254


def _charsxp(text: str) -> bytes:
    encoded = text.encode("ascii")
    return struct.pack(">ii", _CHARSXP | _ASCII, len(encoded)) + encoded


def _strsxp(texts: list[str]) -> bytes:
    return struct.pack(">ii", _STRSXP, len(texts)) + b"".join(map(_charsxp, texts))


def _tagged(symbol: str, value: bytes, last: bool) -> bytes:
    """One node of an attribute pairlist: tag symbol, value, then the rest."""
    node = struct.pack(">i", _LISTSXP | _HAS_TAG) + struct.pack(">i", _SYMSXP)
    node += _charsxp(symbol) + value
    return node + (struct.pack(">i", _NILVALUE) if last else b"")


def rds_matrix(
    columns: Iterator[list[float]], genes: list[str], cells: list[str]
) -> Iterator[bytes]:
    """`matrix(…, dimnames = list(genes, cells))` serialised, column after
    column (R's order), so the matrix is never all in memory at once."""
    yield b"X\n" + struct.pack(">iii", 2, 0x040201, 0x020300)
    yield struct.pack(">ii", _REALSXP | _HAS_ATTR, len(genes) * len(cells))
    for column in columns:
        yield struct.pack(f">{len(column)}d", *column)
    dim = struct.pack(">iiii", _INTSXP, 2, len(genes), len(cells))
    dimnames = struct.pack(">ii", _VECSXP, 2) + _strsxp(genes) + _strsxp(cells)
    yield _tagged("dim", dim, last=False) + _tagged("dimnames", dimnames, last=True)
