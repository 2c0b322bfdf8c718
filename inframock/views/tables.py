"""Tables whose values are never cut, for `make status` and the CLI's listings."""

from __future__ import annotations

from rich import box
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from inframock.core.console import current


def fitted(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A table whose values are never cut: side by side when it fits the
    terminal, else one block per row (first value as heading, then one
    `column  value` line each), so addresses and ids stay whole on one line,
    for eyes and for grep alike. A column name starting with `>` is right-aligned.
    """
    out = current()
    table = Table(box=box.SIMPLE, title=title, title_justify="left")
    for column in columns:
        right = column.startswith(">")
        table.add_column(
            column.removeprefix(">"), justify="right" if right else "left", no_wrap=True
        )
    for row in rows:
        table.add_row(*row)
    wide = out.options.update_width(1_000_000)  # measure unclamped
    if Measurement.get(out, wide, table).maximum <= out.width:
        out.print(table)
        return
    out.print(title)
    names = [column.removeprefix(">") for column in columns]
    label = max(len(name) for name in names[1:])
    for row in rows:
        # soft_wrap: a line longer than the terminal wraps whole, never cut.
        out.print(f"  [bold]{row[0]}[/]", soft_wrap=True)
        for name, value in zip(names[1:], row[1:]):
            out.print(f"    {escape(name):<{label}}  {value}", soft_wrap=True)
    out.print()
