"""Provision the stack and load the data folder: the one entry point of both roads.

The embedded road calls `seed` in process once its services are ready; `make
reload-data` calls it against the running stack; the Compose `populate`
container runs it as `python -m inframock seed`. Same code, same checks.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from inframock.core import stack_secret
from inframock.core import console
from inframock.aws.clients import clients_for
from inframock.aws.endpoint import check_endpoint_is_local
from inframock.data.dataset import Plan, plan
from inframock.data.clashes import clash_lines
from inframock.data.ignored import ignored_lines
from inframock.data.digests import Digests
from inframock.data.object_cache import ObjectCache
from inframock.features.seed.load import Loader
from inframock.features.seed.provision import provision, stack_identity
from inframock.core.settings import PROFILES, Settings
from inframock.model.profiles import stack_for, stack_of
from inframock.model.stack import ENVIRONMENT, Stack
from inframock.views import load as load_view
from inframock.features.seed.reports import SeedResult
from inframock.core.errors import InframockError


class SeedError(InframockError):
    """The stack could not be provisioned; the message says why."""


def loading_skipped_because(settings: Settings) -> str:
    """Why the data folder will not be loaded, or '' if it will."""
    if not settings.populate_mock:
        return "POPULATE_MOCK is false"
    if settings.cluster_env != ENVIRONMENT:
        return (
            f"CLUSTER_ENV is {settings.cluster_env!r}; mock data is only loaded "
            f"into a {ENVIRONMENT!r} stack"
        )
    return ""


def seed(settings: Settings, everything: bool = False) -> SeedResult:
    """Provision, then load the data folder unless settings say not to.

    Files unchanged since they were last loaded into this stack are skipped,
    unless `everything` is asked for.
    """
    check_endpoint_is_local(settings.aws_endpoint, settings.allow_endpoint)
    clients = clients_for(settings.aws_endpoint, settings.region)
    stack = stack_for(settings)
    try:
        created = provision(stack, clients)
        identity = stack_identity(stack, clients)
    except (BotoCoreError, ClientError) as err:
        raise SeedError(f"provisioning {settings.aws_endpoint} failed: {err}") from None
    if created:
        load_view.provisioned(created)
    skipped = loading_skipped_because(settings)
    if skipped:
        console.note(f"not loading {settings.data_path}: {skipped}")
        return SeedResult(created, None, skipped)
    console.note(f"loading {settings.data_path.resolve()}")
    digests = Digests.for_stack(settings.state_dir, identity, fresh=everything)
    cache = ObjectCache(settings.state_dir, settings.cache_limit)
    loader = Loader(
        clients,
        stack,
        digests,
        settings.rds_limit,
        cache,
        stack_secret.read(settings.state_dir),
        table_file_limit_mb=settings.max_table_file_mb,
    )
    load_plan = plan(settings.data_path, stack.data)
    _say_what_is_off(settings, stack, load_plan)
    report = loader.load(load_plan)
    load_view.summary(report)
    return SeedResult(created, report)


def _say_what_is_off(settings: Settings, stack: Stack, load_plan: Plan) -> None:
    """Before loading: the files this profile ignores (once per name, with the
    name it expects) and the ids two folders both claim."""
    others = {
        name: stack_of(settings, name).data
        for name in PROFILES
        if name != settings.profile
    }
    for line in ignored_lines(load_plan.experiments, stack.profile, stack.data, others):
        console.note(line)
    for line in clash_lines(load_plan.experiments, stack):
        console.warn(line)


def seed_status(settings: Settings, everything: bool = False) -> int:
    """Seed and report; the exit status of `seed`, `reload-data` and a reload
    asked for through the control channel: 0 only when nothing failed (an
    endpoint refused or a failed provisioning raises)."""
    return 0 if seed(settings, everything).ok else 1
