"""The files of the data folder the profile does not load, said once per name.

A data folder written for another profile (2021's `r.rds.gz` and `mock_*.json`
in profile current, or current's `biomage-source.r.rds.gz` in 2021) would
otherwise print one line per file and experiment, without the name this
profile expects. Each name is said once, with the experiments that have it
and, when another profile loads that name, what this profile loads instead.
"""

from __future__ import annotations

import collections
from typing import Mapping, Sequence

from inframock.data.dataset import Experiment, table_kind
from inframock.model.stack import DataRules

SHOWN_IDS = 3
"""Experiments named on a line; the rest are counted."""
SQL_FOLDER = "sql"
"""An experiment's PostgreSQL rows (`sql/<table>.json`), loaded by seed-sql."""


def ignored_lines(
    experiments: Sequence[Experiment],
    profile: str,
    rules: DataRules,
    others: Mapping[str, DataRules],
) -> list[str]:
    """One line per ignored file name: where it is and why it is ignored.

    `others`: the file rules of the other profiles, by profile name.
    """
    where: dict[str, list[str]] = collections.defaultdict(list)
    for experiment in experiments:
        for name in experiment.ignored:
            if name != SQL_FOLDER or rules.table_files:  # seed-sql loads sql/
                where[name].append(experiment.id)
    lines = []
    for name, ids in where.items():
        reason = _instead(name, profile, rules, others)
        if len(ids) == 1:
            lines.append(f"{ids[0]}/{name}: ignored ({reason})")
            continue
        shown = ", ".join(ids[:SHOWN_IDS])
        more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
        lines.append(
            f"{name}: ignored in {len(ids)} experiments ({shown}{more}; {reason})"
        )
    return lines


def _instead(
    name: str, profile: str, rules: DataRules, others: Mapping[str, DataRules]
) -> str:
    """What profile `profile` loads in place of `name`, if another profile loads it."""
    for other, theirs in others.items():
        if name == theirs.source_file:
            return (
                f"profile {other}'s name; profile {profile} loads the r.rds "
                f"from {rules.source_file}"
            )
        if name == theirs.matrix_file:
            return (
                f"profile {other}'s name; profile {profile} loads the processed "
                f"matrix from {rules.matrix_file}"
            )
        kind = table_kind(name, theirs)
        if kind is None:
            continue
        pattern = next((p for p, k in rules.table_files if k == kind), None)
        if pattern is not None:
            return f"profile {other}'s name; profile {profile} loads {pattern}"
        if not rules.table_files:
            return (
                f"a {other} table file; profile {profile} keeps its tables in "
                f"PostgreSQL: <experiment>/{SQL_FOLDER}/<table>.json, `make seed-sql`"
            )
        return f"profile {profile} has no {kind} table"
    return "not a file inframock loads"
