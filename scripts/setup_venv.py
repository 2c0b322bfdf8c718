"""Prepare a virtualenv: `.venv` for a make target, `run` (the stack) or `dev`
(tests and tools), or `.venv-ministack` for the second engine (`ministack`).

Why a script and not two lines of make: the first `make run` used to spend
about three minutes in a silent `pip --quiet` installing every developer tool
too. Here `run` installs only requirements.txt and `dev` adds
requirements-dev.txt; the installer is uv (about 13 s for `run` here, most of
it compiling the bytecode) where it can be had, found on PATH or installed
into the virtualenv by its own pip, and plain pip otherwise; either shows what
it installs as it goes. Two make commands started at once (a `make run` and a
`make status` during the first set-up) take turns on a lock file, and the
second finds the work done.

Both installers write every module's bytecode at install time (pip does by
default, uv with `--compile-bytecode`): where PYTHONDONTWRITEBYTECODE is set,
as in many images, Python would otherwise compile moto, botocore and boto3
from source in every process, about 2 s of CPU per stack start.

MiniStack pins an older botocore than ours, so it cannot share `.venv`: its
part installs requirements-ministack.txt alone into a virtualenv of its own,
without inframock (the engine's launcher imports the checkout's
inframock.engine from PYTHONPATH). inframock/services/engines/ministack.py
runs this script before each start of that engine; it does nothing when the
virtualenv is up to date.

Run by the Makefile with the interpreter that creates the virtualenv:
`python3 scripts/setup_venv.py run|dev|ministack VENV`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = "uv==0.13.9"
"""The installer, pinned; installed into the virtualenv where none is on PATH."""
PARTS = {
    "run": ("requirements.txt",),
    "dev": ("requirements.txt", "requirements-dev.txt"),
    "ministack": ("requirements-ministack.txt",),
}
"""Each part's requirement files (dev includes run)."""
WITHOUT_PROJECT = ("ministack",)
"""Parts whose virtualenv does not get inframock installed."""
INPUTS = ("pyproject.toml", "scripts/setup_venv.py")
"""Files whose change means the virtualenv must be brought up to date."""


def say(line: str) -> None:
    """One line of progress, as the rest of make's output has it."""
    print(f"inframock | {line}", flush=True)


def stamp(venv: Path, part: str) -> Path:
    """The file whose date says `part` is installed."""
    return venv / f".installed-{part}"


def up_to_date(venv: Path, part: str) -> bool:
    """Whether `part` was installed after its inputs last changed."""
    done = stamp(venv, part)
    if not done.exists():
        return False
    newest = max((ROOT / name).stat().st_mtime for name in PARTS[part] + INPUTS)
    return done.stat().st_mtime >= newest


INSTALLER_ENV = "INFRAMOCK_INSTALLER"
"""`pip` forces plain pip (what `make bench` compares uv with)."""


def installer(python: Path) -> list[str] | None:
    """The uv command for `python`'s environment, or None (use pip)."""
    if os.environ.get(INSTALLER_ENV) == "pip":
        return None
    found = (
        shutil.which("uv")
        or shutil.which("uv", path=str(python.parent))
        or shutil.which("uv", path=str(Path(sys.executable).parent))
    )
    if found is None:
        say(f"installing the installer ({UV}) with pip")
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", UV], check=False
        )
        found = shutil.which("uv", path=str(python.parent))
        if result.returncode != 0 or found is None:
            say("uv is not available: installing with pip (slower)")
            return None
    return [found, "pip", "install", "--compile-bytecode", "--python", str(python)]


def install(venv: Path, part: str) -> None:
    """Create the virtualenv if needed and install `part` into it."""
    python = venv / "bin" / "python"
    if not python.exists():
        say(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    files = [arg for name in PARTS[part] for arg in ("-r", str(ROOT / name))]
    editable = ["--no-deps", "--editable", str(ROOT)]
    uv = installer(python)
    what = {"run": "what the stack needs", "dev": "the test and check tools"}.get(
        part, "the MiniStack engine"
    )
    say(f"installing {what} into {venv} ({'uv' if uv else 'pip'}, with bytecode)")
    started = time.monotonic()
    if uv is None:
        pip = [str(python), "-m", "pip", "install", "--progress-bar", "off"]
        commands = [pip + files, pip + ["--quiet"] + editable]
    else:
        commands = [uv + files, uv + ["--quiet"] + editable]
    if part in WITHOUT_PROJECT:
        commands = commands[:1]
    for command in commands:
        if subprocess.run(command, check=False).returncode != 0:
            raise SystemExit(f"inframock | error: `{' '.join(command)}` failed")
    stamp(venv, part).touch()
    if part == "dev":  # it installed run's files too
        stamp(venv, "run").touch()
    say(f"{venv} is ready ({time.monotonic() - started:.1f} s)")


def main(part: str, venv: Path) -> None:
    """Install `part` unless it is up to date, one make command at a time."""
    if sys.version_info < (3, 11):
        raise SystemExit("inframock needs Python 3.11 or newer (set PYTHON=python3.x)")
    lock_path = venv.with_name(venv.name + ".lock")
    with lock_path.open("w") as lock:
        if not up_to_date(venv, part):
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"waiting for another make command to finish setting up {venv}")
                fcntl.flock(lock, fcntl.LOCK_EX)
            if not up_to_date(venv, part):
                install(venv, part)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
