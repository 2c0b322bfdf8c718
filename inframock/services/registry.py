"""The registry of services: which declaration a name in `Stack.services` means.

The roads, status, the banners and `make env` ask `services_for(settings)`
and iterate over the declarations in the profile's order; none of them names
a service. A new service is its module (a `DECLARATION`) plus one line here,
and its name in the profiles that run it.
"""

from __future__ import annotations

from inframock.core.settings import Settings
from inframock.model.profiles import stack_for
from inframock.services import aws, redis
from inframock.services.base import Declaration
from inframock.services.postgres import service as postgres
from inframock.services.relay import service as relay

SERVICES: dict[str, Declaration] = {
    declared.name: declared
    for declared in (
        aws.DECLARATION,
        redis.DECLARATION,
        relay.DECLARATION,
        postgres.DECLARATION,
    )
}
"""Service name (as profiles and docker-compose.yml spell it) → its declaration."""


def services_for(settings: Settings) -> list[Declaration]:
    """The declarations of the services the settings' profile runs, in its order."""
    return [SERVICES[name] for name in stack_for(settings).services]
