"""Regenerate docs/survives.md's load figures: soak a fresh stack, print and save them.

    .venv/bin/python scripts/soak.py [--seconds 30] [--json bench-results/soak.json]

Starts `python -m inframock run` on free ports (never 4566/6379) with an empty
data folder, runs the traffic mix of inframock/testing/soak.py against it (the very code
`make test` asserts on), prints the summary line and writes every figure as
JSON. Exits 1 if any request failed or any message was lost or doubled.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from inframock.testing.harness import ROOT, RunningStack, base_env
from inframock.testing.soak import SoakPlan, run_soak, summary_line


def main() -> int:
    """Soak a stack of its own; 0 when nothing failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SoakPlan.seconds)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench-results" / "soak.json"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inframock-soak-") as tmp:
        (Path(tmp) / "data").mkdir()
        env = base_env(Path(tmp), AWS_DEFAULT_REGION="eu-west-1")
        stack = RunningStack(env).wait_ready()
        try:
            figures = run_soak(
                stack.endpoint,
                stack.redis_port,
                "eu-west-1",
                SoakPlan(seconds=args.seconds),
            )
        finally:
            stack.stop()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))
    print(summary_line(figures))
    print(f"figures in {args.json}")
    messages = figures["messages"]
    intact = (
        messages["delivered"] == messages["unique_sent"]
        and not messages["delivered_more_than_once"]
        and figures["redis"]["received"] == figures["redis"]["published"]
    )
    return 0 if intact and not figures["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
