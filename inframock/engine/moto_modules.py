"""moto's list of its own service packages, read from disk once.

moto's server picks the service of a request by its `Host` header, first
checking whether the host names one of moto's packages
(`DomainDispatcherApplication.get_backend_for_host`), which lists moto's
folder and `stat`s each of its ~170 entries: ~0.35 ms, on every request and
twice on most (the endpoint's `127.0.0.1:<port>` names no package, nor does
the `<service>.<region>.amazonaws.com` inferred next), under the lock that
serialises every request's dispatch. The packages cannot change while the
engine runs, so they are listed once. Patch `moto-modules-once`
(inframock.engine.patches.at_start); `tests/unit/test_engine_patches.py`
says when moto lists them once itself.
"""

from __future__ import annotations

import functools
from typing import Callable, Iterable


def listed_once(
    list_of_moto_modules: Callable[[], Iterable[str]],
) -> Callable[[], tuple[str, ...]]:
    """moto's `list_of_moto_modules`, its answer kept: the same names in the
    same order, from one listing."""
    return functools.cache(lambda: tuple(list_of_moto_modules()))
