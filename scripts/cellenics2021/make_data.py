"""Build a data folder for the 2021 end-to-end check from one real 2021 experiment.

Usage: make_data.py REFERENCE_EXPERIMENT_DIR OUT_DATA_DIR

The reference folder holds mock_experiment.json, mock_samples.json and
mock_plots_tables.json (as the original Biomage inframock shipped them). Added,
as a 2021 project would have them: the samples item's `projectUuid` (what the
API's updateSamples sets), a project item in DynamoDB's typed JSON, the
experiment's cell sets as mock_cell_sets.json, and a 24 MB processed matrix
(pseudo-random bytes: the worker only downloads it, so its content is not read).
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import sys
from pathlib import Path

PROJECT = "2b4a1d7e-0c1f-4e4b-9b1a-5f5e2021c0de"
MATRIX_MB = 24


def project_item(project: str, experiment: str, samples: list[str]) -> dict:
    """The projects-development item, typed, as the 2021 API writes it."""
    return {
        "projectUuid": {"S": project},
        "projects": {
            "M": {
                "uuid": {"S": project},
                "name": {"S": "Reference project 2021"},
                "description": {"S": "generated for the 2021 end-to-end check"},
                "createdDate": {"S": "2021-09-01T10:00:00.000Z"},
                "lastModified": {"S": "2021-09-01T10:00:00.000Z"},
                "experiments": {"L": [{"S": experiment}]},
                "samples": {"L": [{"S": s} for s in samples]},
                "metadataKeys": {"L": []},
                "lastAnalyzed": {"NULL": True},
            }
        },
    }


def main(reference: Path, out_root: Path) -> None:
    """Write OUT_DATA_DIR/<experiment id>/ from the reference experiment."""
    experiment = json.loads((reference / "mock_experiment.json").read_text())
    samples = json.loads((reference / "mock_samples.json").read_text())
    exp_id = experiment["experimentId"]
    out = out_root / exp_id
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(reference / "mock_experiment.json", out)
    shutil.copy(reference / "mock_plots_tables.json", out)
    samples["projectUuid"] = PROJECT
    (out / "mock_samples.json").write_text(json.dumps(samples))
    sample_ids = samples["samples"].get("ids", [])
    (out / "mock_projects.json").write_text(
        json.dumps(project_item(PROJECT, exp_id, sample_ids))
    )
    (out / "mock_cell_sets.json").write_text(
        json.dumps({"cellSets": experiment["cellSets"]})
    )
    rnd = random.Random(2021)
    with gzip.open(out / "processed-matrix.r.rds.gz", "wb", compresslevel=1) as f:
        f.write(b"X\n")
        for _ in range(MATRIX_MB):
            f.write(rnd.randbytes(1 << 20))
    print(f"{out}: {sorted(p.name for p in out.iterdir())}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
