"""What speed must not change: parallel loads store what sequential ones do, in
bounded memory."""

from __future__ import annotations

import contextlib
import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from inframock.features.seed import load
from inframock.aws.clients import Clients
from inframock.data.dataset import plan
from inframock.data.digests import Digests
from inframock.core.settings import Settings
from inframock.model.profiles import stack_for
from inframock.testing.harness import ROOT, RunningStack
from inframock.testing.datafolder import MB, experiment_folder, write_json
from tests.helpers import SOURCE, items

PEAK_BOUND_MB = 200
"""Generous: the loader measures about 100 MB whatever the file size."""


def write_experiments(data: Path, prefix: str) -> None:
    """Experiments whose files overlap in keys, so load order matters."""
    for n in range(6):
        experiment = f"{prefix}-{n}"
        folder = experiment_folder(data, experiment)
        write_json(folder, "mock_experiment.json", {"experimentId": experiment, "n": n})
        for part in range(2):
            records = [
                {"experimentId": experiment, "plotUuid": f"p{i}", "part": part, "i": i}
                for i in range(part * 40, 120)
            ]
            records.append({"experimentId": experiment, "plotUuid": "p0", "last": part})
            write_json(folder, f"mock_plots_tables_{part}.json", {"records": records})


def stored(stack: RunningStack, prefix: str) -> list[Any]:
    """Every item loaded for `prefix`, with the prefix taken out so runs compare."""
    found = []
    for table in ("experiments-development", "plots-tables-development"):
        for n in range(6):
            for item in items(stack, table, f"{prefix}-{n}"):
                item["experimentId"] = str(n)
                found.append(json.dumps(item, sort_keys=True, default=str))
    return sorted(found)


def test_parallel_loading_stores_exactly_what_sequential_loading_does(
    session_stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load(session_stack.env, env_file=tmp_path / "none")
    clients = Clients(settings.aws_endpoint, settings.region)
    stack = stack_for(settings)
    for prefix, workers in (("seq", 1), ("par", 8)):
        monkeypatch.setattr(load, "BATCH_WORKERS", workers)
        monkeypatch.setattr(load, "EXPERIMENT_WORKERS", min(workers, 4))
        data = tmp_path / prefix
        write_experiments(data, prefix)
        digests = Digests(tmp_path / f"{prefix}.json", prefix)
        report = load.Loader(clients, stack, digests, settings.rds_limit).load(
            plan(data, stack.data)
        )
        assert not report.all_problems
    sequential = stored(session_stack, "seq")
    assert len(sequential) == 6 * (1 + 120)
    assert stored(session_stack, "par") == sequential
    first = items(session_stack, "plots-tables-development", "par-0")
    p0 = next(item for item in first if item["plotUuid"] == "p0")
    assert p0["last"] == 1  # the later file's record won, as in order


def test_loader_memory_stays_flat_on_a_big_rds(
    session_stack: RunningStack, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = experiment_folder(data, "big-rds")
    size = 300 * MB
    block = bytes(range(256)) * (MB // 512) + bytes(MB // 2)  # compresses ~2x
    with gzip.open(folder / "r.rds.gz", "wb", compresslevel=1) as out:
        for _ in range(size // MB):
            out.write(block)
    with (tmp_path / "out.txt").open("w", encoding="utf-8") as out:
        loader = psutil.Popen(
            [sys.executable, "-m", "inframock", "seed"],
            cwd=ROOT,
            env={**session_stack.env, "BIOMAGE_DATA_PATH": str(data)},
            stdout=out,
        )
        samples = []  # sampling RSS is the measurement, not a wait
        while loader.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                samples.append(loader.memory_info().rss)
            time.sleep(0.01)
    peak = max(samples, default=0)
    assert loader.returncode == 0, (tmp_path / "out.txt").read_text()
    head = session_stack.client("s3").head_object(Bucket=SOURCE, Key="big-rds/r.rds")
    assert head["ContentLength"] == size
    assert peak / 1e6 < PEAK_BOUND_MB, f"peak {peak / 1e6:.0f} MB"
