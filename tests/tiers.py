"""The suite's tiers: what each test needs or costs, and a summary per tier.

A test's tier is the first of TIERS its markers name (`pytestmark` in its
module), else `core` (which the collection marks, for `pytest -m core`).
`make test` runs every tier (those the machine cannot run skip, saying why);
`make test-fast` runs `core` alone, for the edit loop.
At the end, one line per tier: tests passed, skipped (and why), failed, and
the seconds its tests took (summed over the workers, so more than the wall
time when they run side by side).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import pytest

TIERS = {
    "docker": "needs a Docker engine with Compose v2",
    "browser": "needs Chromium and chromium-driver",
    "node": "needs Node and npm (pinned packages under tests/)",
    "soak": "half a minute of concurrent load on one stack",
    "faults": "signals, kills and full disks around whole stacks",
    "slow": "many stack starts or big data; tens of seconds each",
}
"""Marker: what it means. A test's tier is the first its markers name."""
CORE = "core"
"""The tier of every test no marker names: `make test-fast`."""


def configure(config: pytest.Config) -> None:
    """Register the tier markers (`pytest --markers` lists them)."""
    for name, meaning in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    config.addinivalue_line("markers", f"{CORE}: every test of no other tier")


FIRST = ("soak", "faults", "slow")
"""Tiers whose modules are handed out to the workers first, in this order:
the longest work starts at once, and the short modules fill in beside it
(`make test` keeps this order: `--no-loadscope-reorder`, since xdist would
otherwise hand out the modules with the most tests first)."""


def sort_into_tiers(items: list[pytest.Item]) -> None:
    """Mark each test of no tier `core` (`pytest -m core`), and reorder
    `items` (stably) by FIRST, then every other tier."""
    for item in items:
        if tier_of(item.keywords) == CORE:
            item.add_marker(CORE)
    rank = {name: place for place, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(tier_of(item.keywords), len(FIRST)))


def tier_of(keywords: Any) -> str:
    """The tier of a test whose markers (and names) are `keywords`."""
    return next((name for name in TIERS if name in keywords), CORE)


@dataclasses.dataclass
class Tally:
    """One tier's outcome so far."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    why_skipped: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )


class TierSummary:
    """Counts each test's outcome into its tier (on the xdist controller too:
    the workers' reports carry the markers as keywords)."""

    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Add one phase of one test to its tier."""
        tally = self.tallies.setdefault(tier_of(report.keywords), Tally())
        tally.seconds += report.duration
        if getattr(report, "wasxfail", None) is not None:
            tally.skipped += 1
            tally.why_skipped[f"expected to fail: {report.wasxfail}"[:120]] += 1
        elif report.skipped:
            tally.skipped += 1
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            tally.why_skipped[str(reason).removeprefix("Skipped: ")] += 1
        elif report.failed:
            tally.failed += 1
        elif report.when == "call":
            tally.passed += 1

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line per tier, then why tests skipped."""
        if not self.tallies:
            return
        write = terminalreporter.write_line
        terminalreporter.section("tiers")
        for name in (*TIERS, CORE):
            tally = self.tallies.get(name)
            if tally is None:
                continue
            write(
                f"{name:<8} {tally.passed:>4} passed {tally.skipped:>3} skipped "
                f"{tally.failed:>3} failed {tally.seconds:>7.0f} s of tests"
            )
            for reason, count in tally.why_skipped.most_common():
                write(f"         {count} skipped: {reason}"[:200])
