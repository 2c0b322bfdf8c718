"""Which stack definition a profile names: the model's side of the registry.

The registry itself is `inframock.core.settings.PROFILES` (one list: the
names a setting may take, each with its definition module), so that settings
refuse an unknown profile as they are read. Callers ask `stack_for(settings)`
and read the stack as data; nothing else branches on the profile's name.
"""

from __future__ import annotations

import importlib

from inframock.core.settings import PROFILES, Settings
from inframock.model.stack import Stack


def stack_of(settings: Settings, profile: str) -> Stack:
    """The stack `profile` (a name in the registry) defines, with `settings`."""
    definition = importlib.import_module(PROFILES[profile])
    stack: Stack = definition.stack(settings)
    return stack


def stack_for(settings: Settings) -> Stack:
    """The stack of the profile the settings name."""
    return stack_of(settings, settings.profile)
