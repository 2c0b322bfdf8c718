"""The stack's secret: what tells the engine a caller is the stack's own loader.

Made anew at each start of the embedded road (`create`), in a file only the
user can read (`<state>/private/engine-secret`, 0600 in a 0700 folder); the
engine gets it in its environment (engine/protocol.py's SECRET_ENV), the loader
reads it from the file (`read`), and no other local account can do either.
The Compose road makes none: its `populate` container has no secret, so its
engine registers no file and the loader uploads through S3.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from inframock.core.errors import InframockError

FOLDER = "private"
FILE = "engine-secret"


class SecretError(InframockError):
    """The secret's folder cannot be made private; the message says what to do."""


def secret_file(state_dir: Path) -> Path:
    """Where the stack of `state_dir` keeps its secret: the one place."""
    return state_dir.absolute() / FOLDER / FILE


def create(state_dir: Path) -> str:
    """A new secret for the stack of `state_dir`, written to `secret_file`."""
    path = secret_file(state_dir)
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if info.st_uid != os.geteuid() or not stat.S_ISDIR(info.st_mode):
        raise SecretError(
            f"{folder} is not a folder of this user's: remove it (inframock "
            "keeps the stack's secret there) and start again"
        )
    folder.chmod(0o700)
    value = secrets.token_urlsafe(32)
    temporary = folder / f".{FILE}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
    )
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as stream:
            stream.write(value)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return value


def read(state_dir: Path) -> str | None:
    """The secret of the stack of `state_dir`; None when it has none (no stack
    started there, or the Compose road's loader)."""
    try:
        return secret_file(state_dir).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None
