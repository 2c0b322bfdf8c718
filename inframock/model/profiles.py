"""The registry of profiles: which stack definition a setting names.

Callers ask `stack_for(settings)` and read the stack as data; nothing else
branches on the profile's name.
"""

from __future__ import annotations

from typing import Callable

from inframock.model import cellenics_2021, cellenics_current
from inframock.model.stack import Stack
from inframock.core.settings import Settings

PROFILES: dict[str, Callable[[Settings], Stack]] = {
    cellenics_2021.NAME: cellenics_2021.stack,
    cellenics_current.NAME: cellenics_current.stack,
}
"""Profile name (the `INFRAMOCK_PROFILE` setting) → its stack definition."""


def stack_for(settings: Settings) -> Stack:
    """The stack of the profile the settings name."""
    return PROFILES[settings.profile](settings)
