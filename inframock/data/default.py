"""The default experiment: a synthetic Cellenics experiment worth starting with.

Realistic in shape and size, so the first `make run` serves something the
Cellenics services can use: the experiment, a project that lists it, a samples
item with four samples, QC plots with one point per cell (over 1 MB in the
plots table, so scans page), the cell sets document the 2021 API reads from
S3 (Louvain clusters, samples, an empty scratchpad), and an `r.rds.gz` that
is a valid R serialisation (`rds`) of a genes × cells matrix of
log-normalised expression with dimnames, which `readRDS()` opens.

It is deterministic (fixed seed) and generated, not stored: the repository
stays small, and `make run` / `make start` write it on first use when the data
folder is the default one and holds no experiment (`ensure_default`).
`make default-data` (scripts/make_default_data.py) regenerates it.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path
from typing import Any, Iterator

from inframock.data.rds import rds_matrix

EXPERIMENT_ID = "b1a5e6f0c0de4d0a9e5e1e5c0ffee000"
PROJECT_UUID = "b1a5e6f0-c0de-4d0a-9e5e-1e5c0ffee001"
SAMPLES = ("WT1", "WT2", "KO1", "KO2")
CELLS_PER_SAMPLE = 1000
CELLS = CELLS_PER_SAMPLE * len(SAMPLES)
GENES = 800
CLUSTERS = 8
ZERO_FRACTION = 0.8
"""Most entries of a single-cell count matrix are zero."""
SEED = 20261125
LAST_UPDATED = "2026-11-25T00:00:00.000Z"
DEFAULT_DATA = Path("data")
"""BIOMAGE_DATA_PATH's default, relative to the checkout."""
COLORS = (
    "#e377c2",
    "#8c564b",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#1f77b4",
    "#9467bd",
    "#bcbd22",
)
QC_PLOTS = (
    "cellSizeDistribution",
    "mitochondrialContent",
    "classifier",
    "numGenesVsNumUmis",
    "doubletScores",
)


def sample_uuid(sample: str) -> str:
    """A stable UUID-shaped id per sample, as Cellenics gives them."""
    index = SAMPLES.index(sample)
    return f"b1a5e6f0-c0de-4d0a-9e5e-1e5c0ffe{index + 100:04d}"


def cell_sample(cell: int) -> str:
    """Cells are numbered sample after sample."""
    return SAMPLES[cell // CELLS_PER_SAMPLE]


def experiment() -> dict[str, Any]:
    """The experiments-table item, with per-sample processing settings."""
    filters = {
        "cellSizeDistribution": {"minCellSize": 1080, "binStep": 200},
        "mitochondrialContent": {
            "method": "absolute_threshold",
            "methodSettings": {
                "absolute_threshold": {"maxFraction": 0.1, "binStep": 0.05}
            },
        },
        "classifier": {"FDR": 0.01, "minProbability": 0.82},
        "numGenesVsNumUmis": {"regressionType": "gam", "p.level": 0.001},
        "doubletScores": {"probabilityThreshold": 0.5, "binStep": 0.05},
    }
    processing: dict[str, Any] = {
        step: {
            "enabled": True,
            **{sample_uuid(s): {"filterSettings": settings} for s in SAMPLES},
        }
        for step, settings in filters.items()
    }
    processing["dataIntegration"] = {
        "dataIntegration": {
            "method": "harmony",
            "methodSettings": {
                "harmony": {"numGenes": 2000, "normalisation": "logNormalize"}
            },
        },
        "dimensionalityReduction": {"method": "rpca", "numPCs": 30},
    }
    processing["configureEmbedding"] = {
        "embeddingSettings": {
            "method": "umap",
            "methodSettings": {
                "umap": {"minimumDistance": 0.3, "distanceMetric": "cosine"}
            },
        },
        "clusteringSettings": {
            "method": "louvain",
            "methodSettings": {"louvain": {"resolution": 0.8}},
        },
    }
    return {
        "experimentId": EXPERIMENT_ID,
        "experimentName": "inframock default experiment",
        "projectId": PROJECT_UUID,
        "apiVersion": "2.0.0-data-ingest-seurat-rds-automated",
        "createdDate": LAST_UPDATED,
        "meta": {
            "organism": "mmusculus",
            "type": "10x",
            "gem2s": {"stateMachineArn": "", "executionArn": ""},
            "pipeline": {"stateMachineArn": "", "executionArn": ""},
        },
        "sampleIds": [sample_uuid(s) for s in SAMPLES],
        "processingConfig": processing,
    }


def project() -> dict[str, Any]:
    """The projects-table item: the project that holds the experiment."""
    return {
        "projectUuid": PROJECT_UUID,
        "name": "inframock default project",
        "description": "A synthetic project: four 10x samples, one experiment.",
        "experiments": [EXPERIMENT_ID],
        "samples": [sample_uuid(s) for s in SAMPLES],
        "metadataKeys": ["Genotype"],
        "createdDate": LAST_UPDATED,
        "lastModified": LAST_UPDATED,
        "lastAnalyzed": LAST_UPDATED,
    }


def samples() -> dict[str, Any]:
    """The samples-table item: four 10x samples with their three files each."""
    item: dict[str, Any] = {
        "experimentId": EXPERIMENT_ID,
        "projectUuid": PROJECT_UUID,
        "samples": {"ids": [sample_uuid(s) for s in SAMPLES]},
    }
    for sample in SAMPLES:
        files = ("features.tsv.gz", "barcodes.tsv.gz", "matrix.mtx.gz")
        item["samples"][sample_uuid(sample)] = {
            "name": sample,
            "uuid": sample_uuid(sample),
            "projectUuid": PROJECT_UUID,
            "type": "10X Chromium",
            "species": "mmusculus",
            "createdDate": LAST_UPDATED,
            "lastModified": LAST_UPDATED,
            "complete": True,
            "error": False,
            "metadata": {"Genotype": sample[:2]},
            "fileNames": list(files),
            "files": {
                name: {
                    "name": name,
                    "path": f"{sample_uuid(sample)}/{name}",
                    "upload": {"status": "uploaded"},
                    "valid": True,
                    "lastModified": LAST_UPDATED,
                }
                for name in files
            },
        }
    return item


def clusters(rng: random.Random) -> list[int]:
    """Each cell's Louvain cluster."""
    return [rng.randrange(CLUSTERS) for _ in range(CELLS)]


def cell_sets(cluster_of: list[int]) -> dict[str, Any]:
    """The cell sets document the 2021 API reads from S3: `{"cellSets": [...]}`."""
    louvain = [
        {
            "key": f"louvain-{c}",
            "name": f"Cluster {c}",
            "rootNode": False,
            "type": "cellSets",
            "color": COLORS[c % len(COLORS)],
            "cellIds": [cell for cell, k in enumerate(cluster_of) if k == c],
        }
        for c in range(CLUSTERS)
    ]
    by_sample = [
        {
            "key": sample_uuid(sample),
            "name": sample,
            "rootNode": False,
            "type": "metadataCategorical",
            "color": COLORS[i],
            "cellIds": list(range(i * CELLS_PER_SAMPLE, (i + 1) * CELLS_PER_SAMPLE)),
        }
        for i, sample in enumerate(SAMPLES)
    ]
    return {
        "cellSets": [
            {
                "key": "louvain",
                "name": "Louvain clusters",
                "rootNode": True,
                "type": "cellSets",
                "children": louvain,
            },
            {
                "key": "scratchpad",
                "name": "Custom cell sets",
                "rootNode": True,
                "type": "cellSets",
                "children": [],
            },
            {
                "key": "sample",
                "name": "Samples",
                "rootNode": True,
                "type": "metadataCategorical",
                "children": by_sample,
            },
        ]
    }


def _qc_point(plot: str, cell: int, rng: random.Random) -> dict[str, Any]:
    """One cell's point in a QC plot, with the values that plot shows."""
    umis = rng.randint(300, 20000)
    if plot == "cellSizeDistribution":
        return {"cellId": cell, "u": umis, "status": "high" if umis > 1080 else "low"}
    if plot == "mitochondrialContent":
        return {
            "cellId": cell,
            "fracMito": round(rng.betavariate(2, 30), 6),
            "cellSize": round(rng.uniform(2.5, 4.3), 6),
        }
    if plot == "classifier":
        return {
            "cellId": cell,
            "FDR": round(rng.random() ** 4, 6),
            "log_u": round(rng.uniform(2.5, 4.3), 6),
        }
    if plot == "numGenesVsNumUmis":
        return {
            "cellId": cell,
            "log_molecules": round(rng.uniform(2.5, 4.3), 6),
            "log_genes": round(rng.uniform(2.2, 3.8), 6),
        }
    return {"cellId": cell, "doubletP": round(rng.betavariate(1, 8), 6)}


def plots(rng: random.Random) -> dict[str, Any]:
    """The plots-tables records: main plots' configs, and per sample each QC
    step's plot with one point per cell."""
    records: list[dict[str, Any]] = [
        {
            "experimentId": EXPERIMENT_ID,
            "plotUuid": uuid,
            "plotType": kind,
            "lastUpdated": LAST_UPDATED,
            "config": {"selectedCellSet": "louvain", "legendEnabled": True},
        }
        for uuid, kind in (
            ("embeddingCategoricalMain", "embeddingCategorical"),
            ("frequencyPlotMain", "frequency"),
            ("markerHeatmapPlotMain", "markerHeatmap"),
        )
    ]
    for index, sample in enumerate(SAMPLES):
        cells = range(index * CELLS_PER_SAMPLE, (index + 1) * CELLS_PER_SAMPLE)
        for plot in QC_PLOTS:
            records.append(
                {
                    "experimentId": EXPERIMENT_ID,
                    "plotUuid": f"{sample_uuid(sample)}-{plot}-0",
                    "plotType": f"{plot}Histogram",
                    "lastUpdated": LAST_UPDATED,
                    "config": {"binStep": 200, "sample": sample_uuid(sample)},
                    "plotData": [_qc_point(plot, cell, rng) for cell in cells],
                }
            )
    return {"records": records}


def _counts(rng: random.Random, cluster_of: list[int]) -> Iterator[list[float]]:
    """Per cell, sparse log-normalised expression (Seurat's `data` slot:
    log1p(count / cell total × 10⁴)); each cluster expresses its own genes more."""
    for cell in range(CELLS):
        boost = cluster_of[cell]
        counts = [
            (
                0
                if rng.random() < ZERO_FRACTION and gene % CLUSTERS != boost
                else int(rng.expovariate(0.4)) + 1
            )
            for gene in range(GENES)
        ]
        total = sum(counts) or 1
        yield [math.log1p(n * 10_000 / total) if n else 0.0 for n in counts]


def gene_names() -> list[str]:
    """Mouse-like gene ids (ENSMUSG…)."""
    return [f"ENSMUSG{gene:011d}" for gene in range(GENES)]


def cell_barcodes() -> list[str]:
    """10x-like barcodes, prefixed by sample."""
    return [f"{cell_sample(c)}_{c:016X}-1" for c in range(CELLS)]


def write(folder: Path) -> Path:
    """Write the default experiment under `folder/<experiment id>/`; that folder."""
    rng = random.Random(SEED)
    target = folder / EXPERIMENT_ID
    target.mkdir(parents=True, exist_ok=True)
    cluster_of = clusters(rng)
    for name, document in (
        ("mock_experiment.json", experiment()),
        ("mock_projects.json", project()),
        ("mock_samples.json", samples()),
        ("mock_cell_sets.json", cell_sets(cluster_of)),
        ("mock_plots_tables.json", plots(rng)),
    ):
        (target / name).write_text(json.dumps(document, indent=1) + "\n")
    partial = target / "r.rds.gz.partial"
    with gzip.GzipFile(partial, "wb", compresslevel=6, mtime=0) as rds:
        for chunk in rds_matrix(
            _counts(rng, cluster_of), gene_names(), cell_barcodes()
        ):
            rds.write(chunk)
    partial.replace(target / "r.rds.gz")  # never a half-written r.rds.gz
    return target


def is_default(data_path: Path) -> bool:
    """True when the data folder is BIOMAGE_DATA_PATH's default (./data)."""
    return Path(data_path) == DEFAULT_DATA


def holds_experiments(data_path: Path) -> bool:
    """True when the folder has any (non-hidden) sub-folder."""
    try:
        return any(
            p.is_dir() and not p.name.startswith(".") for p in data_path.iterdir()
        )
    except FileNotFoundError:
        return False


def ensure_default(data_path: Path) -> Path | None:
    """Write the default experiment if `data_path` is the default data folder
    and holds no experiment yet; the folder written, else None."""
    if not is_default(data_path) or holds_experiments(data_path):
        return None
    return write(data_path)
