"""The result relay as a service of the stack (profile `current`): its declaration.

On the embedded road a thread of `make run` (inframock.services.relay.delivery,
imported only then: it needs boto3); on the Docker road the `relay` container
running `inframock relay`. The banner says which topic it relays where.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from inframock.core.settings import Settings
from inframock.model.profiles import stack_for
from inframock.services.base import Declaration, Rows


@contextlib.contextmanager
def _in_make_run(settings: Settings) -> Iterator[None]:
    """The embedded road: the relay as a thread of `make run`, from
    provisioning until the stack stops."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.services.relay.delivery import ResultRelay

    relay = ResultRelay(settings, stack_for(settings)).start()
    try:
        yield
    finally:
        relay.stop()


def _banner_rows(settings: Settings) -> Rows:
    """Which topic it relays, to which routes, and how it retries."""
    stack = stack_for(settings)
    relay = stack.topic.relay
    if relay is None:
        return []
    routes = " | ".join(path for _, path in relay.routes)
    retry = relay.retry
    return [
        ("relay", f"{stack.topic.name} → apiUrl + {routes}"),
        (
            "",
            f"retried {retry.retries}× ({retry.min_delay:g}–{retry.max_delay:g} s); "
            f"BackOff events → {settings.api_url}{relay.events_path}",
        ),
    ]


DECLARATION = Declaration(
    name="relay",
    thread=_in_make_run,
    banner_rows=_banner_rows,
)
"""A thread of `make run`, or the Compose `relay` container running `serve`:
it serves nothing status could ask, so it has no status row of its own."""
