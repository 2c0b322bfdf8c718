"""Build data folders for tests, in exactly the format users put in `data/`."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def experiment_folder(data: Path, experiment_id: str) -> Path:
    """The folder of one experiment, created."""
    folder = data / experiment_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_json(folder: Path, name: str, document: Any) -> Path:
    """Write `document` as `folder/name`."""
    path = folder / name
    path.write_text(json.dumps(document))
    return path


def payload(size: int, seed: int = 0) -> bytes:
    """`size` reproducible bytes that gzip cannot shrink much (like a real r.rds)."""
    return random.Random(seed).randbytes(size)


def write_rds(folder: Path, data: bytes) -> Path:
    """Write `data` gzipped as `folder/r.rds.gz`."""
    path = folder / "r.rds.gz"
    path.write_bytes(gzip.compress(data, compresslevel=1))
    return path


def write_stored_rds(folder: Path, size: int) -> Path:
    """Write `size` zero bytes as a stored (level 0) `folder/r.rds.gz`: a load
    that lasts, for a test to act during it, at no cost to build (no random
    bytes, no compression); the loader streams it like any other gzip file."""
    path = folder / "r.rds.gz"
    path.write_bytes(gzip.compress(bytes(size), compresslevel=0))
    return path


def plot_record(experiment_id: str, uuid: str, text_bytes: int) -> dict[str, Any]:
    """A plots-tables record carrying about `text_bytes` of plot data."""
    return {
        "experimentId": experiment_id,
        "plotUuid": uuid,
        "plotType": "histogram",
        "config": {"binStep": 200},
        "plotData": "x" * text_bytes,
    }
