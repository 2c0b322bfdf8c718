"""Regenerate the small default experiment in `data/` (`make default-data`).

The experiment is synthetic and deterministic (fixed seed): the same shapes as a
real Cellenics experiment (experiment with cell sets and processing config,
samples, a few plots) at a few kilobytes, and an `r.rds.gz` that is a valid R
serialisation of a character vector, so `readRDS()` opens it. It exists so
`make run` shows a loaded stack out of the box; real experiments go in the data
folder beside it.
"""

from __future__ import annotations

import gzip
import json
import random
import struct
import sys
from pathlib import Path
from typing import Any

EXPERIMENT_ID = "b1a5e6f0c0de4d0a9e5e1e5c0ffee000"
SAMPLES = ("sample-WT", "sample-KO")
CELLS = 120
SEED = 20261125
LAST_UPDATED = "2026-11-25T00:00:00.000Z"


def experiment(rng: random.Random) -> dict[str, Any]:
    """The experiments-table item: cell sets over CELLS cells, two clusters."""
    cells = list(range(CELLS))
    rng.shuffle(cells)
    half = CELLS // 2
    return {
        "experimentId": EXPERIMENT_ID,
        "experimentName": "inframock default experiment",
        "apiVersion": "2.0.0-data-ingest-seurat-rds-automated",
        "meta": {"organism": "mmusculus", "type": "10x"},
        "processingConfig": {
            "cellSizeDistribution": {
                "enabled": True,
                "filterSettings": {"minCellSize": 100, "binStep": 200},
            },
            "mitochondrialContent": {
                "enabled": True,
                "filterSettings": {
                    "method": "absolute_threshold",
                    "methodSettings": {
                        "absolute_threshold": {"maxFraction": 0.1, "binStep": 0.05}
                    },
                },
            },
        },
        "cellSets": [
            {
                "key": "louvain",
                "name": "Louvain clusters",
                "rootNode": True,
                "children": [
                    {
                        "key": f"louvain-{i}",
                        "name": f"Cluster {i}",
                        "color": color,
                        "cellIds": sorted(part),
                    }
                    for i, (color, part) in enumerate(
                        (("#e377c2", cells[:half]), ("#8c564b", cells[half:]))
                    )
                ],
            }
        ],
    }


def samples() -> dict[str, Any]:
    """The samples-table item: two 10x samples."""
    item: dict[str, Any] = {
        "experimentId": EXPERIMENT_ID,
        "samples": {"ids": list(SAMPLES)},
    }
    for sample in SAMPLES:
        item["samples"][sample] = {
            "name": sample.removeprefix("sample-"),
            "uuid": sample,
            "type": "10x",
            "species": "M. musculus",
            "createdDate": LAST_UPDATED,
            "lastModified": LAST_UPDATED,
            "complete": True,
            "error": False,
            "fileNames": [
                f"{sample}/{name}"
                for name in ("features.tsv.gz", "barcodes.tsv.gz", "matrix.mtx.gz")
            ],
        }
    return item


def plots(rng: random.Random) -> dict[str, Any]:
    """The plots-tables records: an embedding and a filter histogram per sample."""
    records = [
        {
            "experimentId": EXPERIMENT_ID,
            "plotUuid": "embeddingCategoricalMain",
            "plotType": "embeddingCategorical",
            "lastUpdated": LAST_UPDATED,
            "config": {"selectedCellSet": "louvain", "legendEnabled": True},
        }
    ]
    for sample in SAMPLES:
        records.append(
            {
                "experimentId": EXPERIMENT_ID,
                "plotUuid": f"{sample}-cellSizeDistribution-0",
                "plotType": "cellSizeDistributionHistogram",
                "lastUpdated": LAST_UPDATED,
                "config": {"binStep": 200},
                "plotData": [
                    {"u": rng.randint(100, 5000), "status": "high"} for _ in range(20)
                ],
            }
        )
    return {"records": records}


def rds_character_vector(text: str) -> bytes:
    """R's XDR serialisation (version 2) of `text` as a character vector."""
    encoded = text.encode("ascii")
    header = b"X\n" + struct.pack(">iii", 2, 0x040201, 0x020300)
    strsxp = struct.pack(">ii", 16, 1)  # STRSXP, length 1
    charsxp = struct.pack(">ii", 9 | (64 << 12), len(encoded))  # CHARSXP, ASCII
    return header + strsxp + charsxp + encoded


def write(folder: Path) -> None:
    """Write the default experiment under `folder/<experiment id>/`."""
    rng = random.Random(SEED)
    target = folder / EXPERIMENT_ID
    target.mkdir(parents=True, exist_ok=True)
    for name, document in (
        ("mock_experiment.json", experiment(rng)),
        ("mock_samples.json", samples()),
        ("mock_plots_tables.json", plots(rng)),
    ):
        (target / name).write_text(json.dumps(document, indent=2) + "\n")
    placeholder = "inframock synthetic experiment: not a Seurat object"
    with gzip.GzipFile(target / "r.rds.gz", "wb", mtime=0) as rds:
        rds.write(rds_character_vector(placeholder))


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "data"))
