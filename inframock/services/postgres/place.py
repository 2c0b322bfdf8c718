"""Where the embedded PostgreSQL keeps its files, and who can reach them.

As an ordinary user PostgreSQL runs as that user, and its cluster lives in
`<state>/postgres` beside the rest of the state. PostgreSQL refuses to run as
root, so as root it runs as another user (the state folder's owner, else
`nobody`), which can enter neither the state folder (0700, inframock.core.private)
nor, often, the checkout and the virtualenv above it (a `mktemp -d`, /root).
Nothing of the user's is opened to it; PostgreSQL gets places of its own
outside the checkout instead:

- `/var/lib/inframock/<hash of the state folder's path>/`, root's, mode 0710
  with that user's group: only it may enter, no one but root may list. It
  holds `data/` (the cluster, that user's, 0700) and `state` (the path of the
  state folder it belongs to, root's). The same state folder finds the same
  cluster at every start; `make clean-sql` removes the whole folder, and one
  whose state folder is gone is removed when any stack starts as root.
- `/var/lib/inframock/pgserver-<version>/`: the bundled wheel's server, initdb
  and the libraries and files they load (about 19 MB), copied once per wheel
  version, world-readable like the wheel itself. A PostgreSQL of the system
  or of INFRAMOCK_POSTGRES_BIN runs where it is.

TCP only: no socket folder is needed (see inframock.services.postgres.server).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import psutil

from inframock.services.base import EngineError
from inframock.core.settings import Settings

PRIVATE_ROOT = Path("/var/lib/inframock")
"""Root's places for a PostgreSQL run as another user."""
STATE_RECORD = "state"
WHEEL = Path("pgserver") / "pginstall"
WHEEL_PARTS = (
    WHEEL / "bin" / "postgres",
    WHEEL / "bin" / "initdb",
    WHEEL / "lib" / "postgresql",
    WHEEL / "share" / "postgresql",
    Path("pgserver.libs"),  # initdb's libpq, found through $ORIGIN/../../..
)
"""What of the wheel the server needs, at the same places relative to each other."""


@dataclasses.dataclass(frozen=True)
class Place:
    """Where one stack's PostgreSQL keeps its cluster, and as whom it runs."""

    data: Path
    run_as: tuple[int, int] | None
    """(uid, gid) of the server when inframock runs as root; None: ours."""
    home: Path | None
    """Root's private folder holding `data`; None when not root."""
    state_dir: Path


def place_for(settings: Settings) -> Place:
    """The cluster's place for this user and state folder (always the same one)."""
    state = settings.state_dir.absolute()
    if os.geteuid() != 0:
        return Place(state / "postgres", None, None, state)
    key = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:16]
    home = PRIVATE_ROOT / key
    return Place(home / "data", unprivileged_owner(state), home, state)


def unprivileged_owner(state_dir: Path) -> tuple[int, int]:
    """Who runs PostgreSQL for root: the state folder's owner, else nobody."""
    folder = state_dir.absolute()
    while not folder.exists():
        folder = folder.parent
    info = folder.stat()
    if info.st_uid != 0:
        return info.st_uid, info.st_gid
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def bundled_binary() -> Path | None:
    """The postgres inside the pinned pgserver wheel (found, not imported)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(spec.submodule_search_locations[0]) / "pginstall/bin/postgres"
    return binary if binary.is_file() else None


def binaries_for(bindir: Path, place: Place) -> Path:
    """The folder the server runs from: the bundled wheel's copy for root
    (`prepare` makes it), else `bindir` itself."""
    bundled = bundled_binary()
    if place.run_as is None or bundled is None:
        return bindir
    if bundled.resolve().parent != bindir.resolve():
        return bindir
    return _wheel_copy() / WHEEL / "bin"


def _wheel_copy() -> Path:
    """Root's copy of the bundled wheel's server, one per wheel version."""
    return PRIVATE_ROOT / f"pgserver-{importlib.metadata.version('pgserver')}"


def prepare(place: Place, bindir: Path) -> None:
    """As root: the private folder, the cluster's folder in it, and the copy
    of the bundled binaries if `bindir` is one (nothing to do otherwise)."""
    if place.home is None or place.run_as is None:
        return
    try:
        _prepare(place, bindir)
    except OSError as err:
        raise EngineError(
            f"postgres: cannot prepare {err.filename or place.home}: {err.strerror}. "
            f"As root inframock keeps PostgreSQL's files in {PRIVATE_ROOT}: make it "
            "writable, or run inframock as an ordinary user"
        ) from None


def _prepare(place: Place, bindir: Path) -> None:
    assert place.home is not None and place.run_as is not None
    _private_root()
    _forget_orphans()
    uid, gid = place.run_as
    place.home.mkdir(exist_ok=True)
    os.chown(place.home, 0, gid)
    place.home.chmod(0o710)
    (place.home / STATE_RECORD).write_text(str(place.state_dir), encoding="utf-8")
    legacy = place.state_dir / "postgres"  # where an older inframock kept it
    if (legacy / "PG_VERSION").is_file() and not place.data.exists():
        shutil.move(legacy, place.data)
    if not place.data.exists():
        place.data.mkdir(mode=0o700)
        os.chown(place.data, uid, gid)
    source = bundled_binary()
    if source is not None and binaries_for(bindir, place) != bindir:
        _copy_wheel(source.parents[3], _wheel_copy())  # site-packages/pgserver/...


def _private_root() -> None:
    """/var/lib/inframock: root's, others may pass through to what is theirs."""
    PRIVATE_ROOT.mkdir(parents=True, exist_ok=True)
    os.chown(PRIVATE_ROOT, 0, 0)
    PRIVATE_ROOT.chmod(0o711)


def _copy_wheel(site: Path, target: Path) -> None:
    """Copy what the server needs of the wheel in `site` to `target`, once:
    built beside it and renamed, so a copy is whole or absent."""
    if target.is_dir():
        return
    partial = Path(tempfile.mkdtemp(dir=PRIVATE_ROOT, prefix=f".{target.name}-"))
    try:
        for part in WHEEL_PARTS:
            (partial / part).parent.mkdir(parents=True, exist_ok=True)
            if (site / part).is_dir():
                shutil.copytree(site / part, partial / part, symlinks=True)
            else:
                shutil.copy(site / part, partial / part)
        _readable_by_all(partial)
        try:
            partial.rename(target)
        except OSError:
            if not target.is_dir():  # not another stack's copy made meanwhile
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _readable_by_all(folder: Path) -> None:
    """The wheel's modes whatever the umask it was installed (or copied) with:
    folders 0755, files 0644, 0755 if they could be run."""
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode):
            path.chmod(0o755)
        elif stat.S_ISREG(info.st_mode):
            path.chmod(0o755 if info.st_mode & 0o111 else 0o644)


def _forget_orphans() -> None:
    """Remove the private folders whose state folder is gone (as the cluster
    in `<state>/postgres` goes with its state folder), unless a server runs."""
    for home in PRIVATE_ROOT.iterdir():
        try:
            state = Path((home / STATE_RECORD).read_text(encoding="utf-8"))
        except OSError:
            continue  # a wheel's copy, or a folder being made
        if not state.exists() and not _server_runs(home / "data"):
            shutil.rmtree(home, ignore_errors=True)


def _server_runs(data: Path) -> bool:
    try:
        pid = int((data / "postmaster.pid").read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return psutil.pid_exists(pid)


def remove(place: Place) -> Path | None:
    """Remove the cluster (as root its whole private folder); the path removed,
    or None if there was nothing."""
    folder = place.home or place.data
    if not folder.exists():
        return None
    shutil.rmtree(folder)
    return folder
