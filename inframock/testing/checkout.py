"""A copy of the files a fresh clone's `make run` reads to set itself up.

The set-up test and `make bench` both install into a new virtualenv beside
such a copy, so neither touches the checkout's own `.venv`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from inframock.core.checkout import CHECKOUT

FILES = ("requirements.txt", "requirements-dev.txt", "pyproject.toml", "README.md")
PACKAGES = ("inframock", "populate")


def setup_copy(target: Path) -> Path:
    """Copy what scripts/setup_venv.py reads into `target`; its virtualenv's path."""
    for name in FILES:
        shutil.copy2(CHECKOUT / name, target / name)
    (target / "scripts").mkdir()
    shutil.copy2(CHECKOUT / "scripts" / "setup_venv.py", target / "scripts")
    for package in PACKAGES:
        shutil.copytree(
            CHECKOUT / package, target / package, ignore=shutil.ignore_patterns("*.pyc")
        )
    return target / ".venv"
