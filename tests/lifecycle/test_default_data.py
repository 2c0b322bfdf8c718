"""The default experiment: written on first use, loaded with 0 errors, and as
big and as shaped as docs/data-folder.md says (plots over 1 MB, cell sets, four
samples, a project, a few-MB `r.rds.gz` that is R's serialisation of a matrix)."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
import pytest

from inframock.data import default
from inframock.testing.harness import ROOT, RunningStack, base_env
from tests.helpers import items

pytestmark = pytest.mark.slow

MB = 1_000_000


class XdrReader:
    """Reads R's XDR serialisation as `unserialize()` does, for the item kinds
    the default matrix uses (doubles, integers, strings, lists, pairlists)."""

    def __init__(self, raw: bytes) -> None:
        assert raw[:2] == b"X\n", "not R's XDR format"
        self.raw, self.at = raw, 2
        version, _, _ = self.ints(3)
        assert version == 2

    def ints(self, count: int) -> tuple[int, ...]:
        """`count` big-endian 32-bit integers."""
        values = struct.unpack_from(f">{count}i", self.raw, self.at)
        self.at += 4 * count
        return values

    def item(self) -> Any:
        """The next item: a value, or ("attributes", value, {name: value})."""
        (flags,) = self.ints(1)
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == 254:  # NILVALUE_SXP
            return None
        if kind == 2:  # a pairlist: (tag, value), then the rest of the list
            assert has_tag
            tag = self.item()
            value = self.item()
            rest = self.item() or {}
            return {tag: value, **rest}
        if kind == 1:  # a symbol: its name
            return self.item()
        (length,) = self.ints(1)
        if kind == 9:  # CHARSXP
            text = self.raw[self.at : self.at + length].decode()
            self.at += length
            return text
        if kind == 14:  # REALSXP
            value: Any = struct.unpack_from(f">{length}d", self.raw, self.at)
            self.at += 8 * length
        elif kind == 13:  # INTSXP
            value = list(self.ints(length))
        elif kind in (16, 19):  # STRSXP, VECSXP
            value = [self.item() for _ in range(length)]
        else:
            raise AssertionError(f"unexpected SEXP type {kind}")
        if has_attr:
            return value, self.item()
        return value


def test_first_run_writes_the_default_experiment_and_loads_it(
    tmp_path: Path,
) -> None:
    checkout = tmp_path / "checkout"  # a fresh clone: no data/ at all
    checkout.mkdir()
    env = base_env(tmp_path, PYTHONPATH=str(ROOT))
    del env["BIOMAGE_DATA_PATH"]  # the default, ./data
    stack = RunningStack(env, cwd=checkout).wait_ready()
    try:
        assert "first use: wrote the default experiment" in stack.output
        assert "loaded 1 experiment" in stack.output
        assert ", 0 errors" in stack.output
        folder = checkout / "data" / default.EXPERIMENT_ID
        _check_files(folder)
        _check_loaded(stack)
    finally:
        stack.stop()
    # The next run finds the folder filled and writes nothing.
    again = RunningStack(env, cwd=checkout).wait_ready()
    again.stop()
    assert "first use" not in again.output


def _check_files(folder: Path) -> None:
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert sizes["mock_plots_tables.json"] > MB
    assert 2 * MB < sizes["r.rds.gz"] < 6 * MB  # a few MB
    raw = gzip.decompress((folder / "r.rds.gz").read_bytes())
    values, attributes = XdrReader(raw).item()
    assert attributes["dim"] == [default.GENES, default.CELLS]
    genes, cells = attributes["dimnames"]
    assert len(genes) == default.GENES and genes[0].startswith("ENSMUSG")
    assert len(cells) == default.CELLS and len(set(cells)) == default.CELLS
    assert len(values) == default.GENES * default.CELLS
    nonzero = sum(1 for v in values if v)
    assert 0.1 < nonzero / len(values) < 0.5  # sparse, as single-cell data is
    assert all(v >= 0 for v in values)


def _check_loaded(stack: RunningStack) -> None:
    experiment = default.EXPERIMENT_ID
    plots = items(stack, "plots-tables-development", experiment)
    assert len(plots) >= 20
    assert sum(len(json.dumps(p, default=str)) for p in plots) > MB
    (samples,) = items(stack, "samples-development", experiment)
    assert len(samples["samples"]["ids"]) == 4
    assert all(i in samples["samples"] for i in samples["samples"]["ids"])
    project = stack.client("dynamodb").get_item(
        TableName="projects-development",
        Key={"projectUuid": {"S": default.PROJECT_UUID}},
    )["Item"]
    deserialize = TypeDeserializer().deserialize
    assert deserialize(project["experiments"]) == [experiment]
    body = stack.client("s3").get_object(
        Bucket="cell-sets-development", Key=experiment
    )["Body"]
    cell_sets = json.loads(body.read())["cellSets"]
    assert [s["key"] for s in cell_sets] == ["louvain", "scratchpad", "sample"]
    clustered = sorted(
        c for child in cell_sets[0]["children"] for c in child["cellIds"]
    )
    assert clustered == list(range(default.CELLS))  # every cell in one cluster
    rds = stack.client("s3").head_object(
        Bucket="biomage-source-development", Key=f"{experiment}/r.rds"
    )
    assert rds["ContentLength"] > 20 * MB


def test_the_script_writes_the_same_experiment(tmp_path: Path) -> None:
    """`make default-data` and first use write byte-identical files."""
    by_script = tmp_path / "script"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_default_data.py"), by_script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    by_module = default.write(tmp_path / "module")
    for path in by_module.iterdir():
        assert (by_script / default.EXPERIMENT_ID / path.name).read_bytes() == (
            path.read_bytes()
        ), path.name


def test_first_use_leaves_other_folders_alone(tmp_path: Path) -> None:
    assert default.ensure_default(tmp_path / "data") is None  # not the default
    mine = Path("data")
    assert default.is_default(mine) and default.is_default(Path("./data"))
    assert not default.is_default(tmp_path / "data")
    (tmp_path / "mine").mkdir()
    assert default.holds_experiments(tmp_path)
    assert not default.holds_experiments(tmp_path / "missing")
