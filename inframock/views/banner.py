"""The ready banner: what runs where, what was loaded, how to reach and stop it.

Both roads show the same panel. The road collects every fact first (each
service's description and address, the rows its declaration adds, what was
loaded), so the banner itself only arranges them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from inframock.core.console import plural, show, size
from inframock.model.stack import ACCOUNT_ID

if TYPE_CHECKING:
    from inframock.core.settings import Settings
    from inframock.features.seed.reports import SeedResult


@dataclasses.dataclass(frozen=True)
class Ready:
    """What the banner shows of a ready stack, whichever road runs it."""

    settings: Settings
    services: list[tuple[str, str]]
    """(name, description) of each service that runs, e.g. ("aws", "moto 5.2.5")."""
    addresses: dict[str, str]
    """Service name → where clients reach it ('' or absent: nowhere to show)."""
    rows: list[tuple[str, str]]
    """(label, value) rows the services and the road add (relay routes, state)."""


def banner(
    ready: Ready, result: SeedResult, seconds: float, detached: bool = False
) -> None:
    """The embedded road's banner, with what the loader did (and how to stop
    it: `detached` when `make start` runs it in the background)."""
    if result.load is None:
        loaded = f"nothing ({escape(result.skipped_because)})"
    else:
        load = result.load
        loaded = (
            f"{plural(len(load.loaded), 'experiment')}, "
            f"{plural(load.items, 'item')}, {size(load.bytes)} into S3"
        )
        if load.all_problems:
            count = plural(len(load.all_problems), "error")
            loaded += f", [red]{count} (listed above)[/]"
    stop = "`make stop`; `make logs FOLLOW=1` follows its log" if detached else None
    _ready_panel(ready, loaded, seconds, stop=stop)


def docker_banner(ready: Ready, project: str, loaded: str, seconds: float) -> None:
    """The same banner on the Docker road, once `populate` has loaded the stack;
    `loaded` says what the stack holds."""
    ready = dataclasses.replace(ready, rows=[("compose project", project), *ready.rows])
    _ready_panel(ready, escape(loaded), seconds)


def _ready_panel(
    ready: Ready, loaded: str, seconds: float, stop: str | None = None
) -> None:
    settings = ready.settings
    endpoint, region = settings.aws_endpoint, settings.region
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, description in ready.services:
        address = ready.addresses.get(name, "")
        grid.add_row(f"{name} ({escape(description)})", escape(address))
    grid.add_row("profile", escape(settings.profile))
    grid.add_row("region, account", f"{region}, {ACCOUNT_ID}")
    for label, value in ready.rows:
        grid.add_row(label, escape(value))
    grid.add_row("loaded", loaded)
    grid.add_row("try", escape(f"aws --endpoint-url {endpoint} s3 ls"))
    grid.add_row("", escape(f"redis-cli -u {settings.redis_url} ping"))
    grid.add_row("", 'eval "$(make -s env)" points aws-cli and SDKs here')
    grid.add_row("stop", stop or "Ctrl-C here, or `make stop` in another terminal")
    show(
        Panel(
            grid,
            title=f"[bold green]inframock is ready[/] in {seconds:.1f} s",
            title_align="left",
            expand=False,
        )
    )
