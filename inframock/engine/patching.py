"""How the engine changes moto: named patches, applied in order, with tripwires.

Each difference from AWS that needs moto's code changed is a `Patch`: what it
fixes, the moto release it was checked against, and its `Change`s, each
replacing one attribute of moto (a method, a class, a module global) with
inframock's. A change names its replacement as `module:name`, imported only
when it is applied: listing the patches imports neither moto nor the patch
modules, and the Step Functions patches import moto's interpreter only on the
engine's first Step Functions request.

Every place a patch touches or relies on is a `Source` carrying a tripwire:
the fingerprint of moto's own code there, as checked (the first 12 hex digits
of the sha256 of `inspect.getsource`; of `repr` for a value that has no
source; ABSENT where moto had nothing and the patch adds it). When a moto
release changes that code, the fingerprint no longer matches and the
tripwire names the patch and the place, instead of a hang or a wrong answer
(tests/unit/test_engine_patches.py; at start, the engine logs each broken one when
its moto is not the release the patches were checked against).

LocalStack's `localstack/utils/patch.py` is the model for applying them; the
tripwires are inframock's, the same for every change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import sys
import threading
from typing import Any, Iterable

from inframock.core.errors import InframockError

MOTO = "5.2.5"
"""The moto release the registry's patches were checked against (requirements.txt)."""
ABSENT = "absent"
"""The fingerprint of a place moto does not have (a patch adds it)."""

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Source:
    """A place in moto: `attribute` (dotted: `Class.method`) of `module`,
    with the fingerprint of moto's own value there, as checked."""

    module: str
    attribute: str
    checked: str

    def __str__(self) -> str:
        return f"{self.module}.{self.attribute}"


@dataclasses.dataclass(frozen=True)
class Change:
    """`target` replaced by the object `replacement` (`module:name`) names;
    with `wraps`, by what that callable returns given the value it replaces."""

    target: Source
    replacement: str
    wraps: bool = False


def wrap(module: str, attribute: str, checked: str, replacement: str) -> Change:
    """moto's `module.attribute` wrapped by the callable `replacement` names."""
    return Change(Source(module, attribute, checked), replacement, wraps=True)


def put(module: str, attribute: str, checked: str, replacement: str) -> Change:
    """moto's `module.attribute` replaced by the object `replacement` names."""
    return Change(Source(module, attribute, checked), replacement)


@dataclasses.dataclass(frozen=True)
class Patch:
    """One difference from AWS fixed by changing moto."""

    name: str
    fixes: str
    """What it fixes, in one line."""
    release: str
    """The engine release its tripwires were checked against (moto's, or
    MiniStack's for inframock/engine/ministack/patches.py)."""
    changes: tuple[Change, ...]
    reads: tuple[Source, ...] = ()
    """moto code the patch relies on without replacing it."""
    engine: str = "moto"
    """The engine it changes: moto, or MiniStack (engine/ministack/patches.py)."""

    def sources(self) -> tuple[Source, ...]:
        """Every place of moto this patch depends on."""
        return tuple(change.target for change in self.changes) + self.reads


@dataclasses.dataclass(frozen=True)
class Broken:
    """A tripwire that no longer holds."""

    patch: Patch
    source: Source
    found: str

    def __str__(self) -> str:
        return (
            f"patch {self.patch.name}: {self.patch.engine} changed {self.source} "
            f"(fingerprint {self.found}, checked {self.source.checked} against "
            f"{self.patch.engine} {self.patch.release}); review inframock's patch "
            "before trusting it"
        )


@dataclasses.dataclass(frozen=True)
class _Repr:
    """A value without source code, as it was (a patch may change it in place)."""

    text: str


ORIGINALS: dict[tuple[str, str], Any] = {}
"""moto's own value of each place a patch replaced, as it was before."""

APPLIED: set[str] = set()
"""The names of the patches applied in this process (each is, once)."""
_APPLYING = threading.Lock()
"""Held while patches are applied: two first requests (Step Functions and
Lambda at once) apply the LAUNCHER stage once between them."""


def _kept(value: Any) -> Any:
    """What ORIGINALS keeps of `value`: code as it is, other values' repr."""
    if value is _MISSING or inspect.ismodule(value) or callable(value):
        return value
    return _Repr(repr(value))


def _owner(source: Source) -> tuple[Any, str]:
    """The object holding `source`'s last name, and that name."""
    owner: Any = importlib.import_module(source.module)
    *path, name = source.attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name


def _named(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def fingerprint(value: Any) -> str:
    """The tripwire of `value`: a short hash of its source code (of its
    module's name for a module, of its repr for a value without source)."""
    if value is _MISSING:
        return ABSENT
    if inspect.ismodule(value):
        text = f"module {value.__name__}"
    elif isinstance(value, _Repr):
        text = value.text
    else:
        try:
            text = inspect.getsource(value)
        except (OSError, TypeError):
            text = repr(value)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def value_at(source: Source) -> Any:
    """What `source` holds now (ABSENT's marker if nothing)."""
    owner, name = _owner(source)
    return getattr(owner, name, _MISSING)


def moto_value(source: Source) -> Any:
    """moto's own value at `source` (as it was, if a patch replaced it)."""
    key = (source.module, source.attribute)
    return ORIGINALS[key] if key in ORIGINALS else value_at(source)


def broken(patches: Iterable[Patch]) -> list[Broken]:
    """The tripwires of `patches` that the installed moto no longer holds."""
    found = []
    for patch in patches:
        for source in patch.sources():
            try:
                now = fingerprint(moto_value(source))
            except (ImportError, AttributeError) as err:
                now = f"gone: {err}"
            if now != source.checked:
                found.append(Broken(patch, source, now))
    return found


def apply(patch: Patch) -> None:
    """Make `patch`'s changes, in its order: a place changed twice gets the
    later change around the earlier one. Once: again, it would wrap twice."""
    if patch.name in APPLIED:
        return
    APPLIED.add(patch.name)
    for change in patch.changes:
        owner, name = _owner(change.target)
        current = value_at(change.target)
        key = (change.target.module, change.target.attribute)
        if key not in ORIGINALS:
            ORIGINALS[key] = _kept(current)
        made = _named(change.replacement)
        setattr(owner, name, made(current) if change.wraps else made)


def apply_checked(patches: Iterable[Patch], release: str) -> None:
    """Apply `patches` in order; on a moto they were not checked against, first
    log each tripwire that no longer holds (a line on stderr each)."""
    with _APPLYING:
        patches = [patch for patch in patches if patch.name not in APPLIED]
        unchecked = [patch for patch in patches if patch.release != release]
        for trip in broken(unchecked):
            print(f"warning: {trip}", file=sys.stderr, flush=True)
        for patch in patches:
            apply(patch)


def tripwires(patches: Iterable[Patch]) -> str:
    """What the installed moto makes of the tripwires of `patches`: a line
    saying they all hold, or InframockError naming each patch and place moto
    changed."""
    # pylint: disable-next=import-outside-toplevel
    import moto

    patches = list(patches)
    tripped = broken(patches)
    if tripped:
        raise InframockError("; ".join(str(trip) for trip in tripped))
    sources = sum(len(patch.sources()) for patch in patches)
    return f"all {sources} tripwires hold on moto {moto.__version__}"
