"""Regenerate the default experiment in `data/` (`make default-data`).

The experiment itself (shapes, sizes, the R serialisation) is defined in
`inframock.data.default`, which `make run` and `make start` also use to write
it on first use; this script rewrites it on demand, e.g. after a change there.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout

# pylint: disable-next=wrong-import-position
from inframock.data.default import write  # noqa: E402

if __name__ == "__main__":
    folder = write(Path(sys.argv[1] if len(sys.argv) > 1 else "data"))
    total = sum(p.stat().st_size for p in folder.iterdir())
    print(f"wrote {folder} ({total / 1e6:.1f} MB)")
