"""Tables are printed whole, never squeezed into ellipses.

The load summary has nine columns since the projects table, the processed
matrix and the cell sets joined it: about 120 characters. Fitted into an
80-column console (rich's width when the output is a log file or a pipe, as
`make run > log` or CI) every header and size became `ex…`, `25…`: the
summary said nothing. A table wider than the console is now printed at its
natural width (the terminal wraps long lines; a log keeps them whole).
"""

from __future__ import annotations

import io

from inframock.output import console, views
from inframock.seed.reports import ExperimentReport, LoadReport

EXPERIMENT = "e52b39624588791a7889e39c617f669e"


def render_summary(width: int, is_terminal: bool) -> str:
    """The load summary of one full 2021 experiment, on a console `width` wide."""
    report = LoadReport(
        experiments=[
            ExperimentReport(
                id=EXPERIMENT,
                items={
                    "experiments": 1,
                    "samples": 1,
                    "projects": 1,
                    "plots-tables": 14,
                },
                rds_bytes=None,
                matrix_bytes=25_165_826,
                cell_sets_bytes=16_900,
            )
        ],
        problems=[],
        seconds=0.5,
    )
    out = io.StringIO()
    with console.redirected(out, is_terminal=is_terminal, width=width):
        views.summary(report)
    return console.ANSI_CODES.sub("", out.getvalue())


def row_of(text: str, start: str) -> str:
    """The one line that starts with `start`."""
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return line


def test_the_load_summary_in_a_log_keeps_every_header_and_size() -> None:
    text = render_summary(width=80, is_terminal=False)
    assert "…" not in text, text
    header = row_of(text, "experiment ")
    for column in ("samples", "projects", "r.rds", "matrix", "cell sets", "errors"):
        assert column in header, text
    row = row_of(text, EXPERIMENT)
    assert "25.2 MB" in row and "16.9 kB" in row, text


def test_a_narrow_terminal_gets_the_whole_table_too() -> None:
    text = render_summary(width=80, is_terminal=True)
    assert "…" not in text, text
    assert "25.2 MB" in row_of(text, EXPERIMENT), text


def test_a_table_that_fits_is_as_wide_as_it_needs() -> None:
    text = render_summary(width=200, is_terminal=False)
    assert max(len(line) for line in text.splitlines()) < 200, text
    assert "25.2 MB" in row_of(text, EXPERIMENT), text
