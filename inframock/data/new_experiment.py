"""`make new-experiment FROM=<id>`: a copy of an experiment folder with ids of its own.

A folder copied by hand keeps the original's experiment id and project uuid,
so loading it replaces the original's items (see data/clashes.py). This copy
replaces both ids, wherever they occur in the folder's text files (the table
files, cell sets, `sql/` rows), by new ones; other files (the gzipped
matrices) are copied as they are. The copy is written beside the data folder's
experiments under a hidden name and renamed into place once complete, so a
failed copy leaves nothing the loader would read.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from inframock.core.errors import InframockError
from inframock.core.private import private_folder

PROJECT_KEYS = ("projectUuid", "projectId")
"""The attributes that name an experiment's project (2021 tables)."""
TEXT_SUFFIXES = (".json",)


class NewExperimentError(InframockError):
    """The experiment cannot be copied; the message says why."""


def new_experiment(
    data_path: Path, source: str, target: str = ""
) -> tuple[Path, dict[str, str]]:
    """Copy `data_path/source` as a new experiment (`target`, default a new
    id); the new folder and each replaced id → its replacement."""
    origin = data_path / source
    if not origin.is_dir():
        raise NewExperimentError(
            f"no experiment folder {origin}: FROM names a folder of the data folder"
        )
    target = target or uuid.uuid4().hex
    destination = data_path / target
    if destination.exists():
        raise NewExperimentError(f"{destination} exists already: choose another TO")
    replaced = {source: target}
    project = _project_of(origin)
    if project is not None:
        replaced[project] = str(uuid.uuid4())
    partial = data_path / f".{target}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _copy(origin, partial, replaced)
        partial.rename(destination)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise NewExperimentError(
            f"cannot copy {origin} to {destination}: {err}"
        ) from None
    return destination, replaced


def _project_of(folder: Path) -> str | None:
    """The project uuid the folder's JSON files name first, if any."""
    for path in sorted(folder.rglob("*.json")):
        try:
            found = _find_project(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
        if found is not None:
            return found
    return None


def _find_project(document: object) -> str | None:
    if isinstance(document, dict):
        for key in PROJECT_KEYS:
            value = document.get(key)
            if isinstance(value, dict):  # typed JSON: {"S": ...}
                value = value.get("S")
            if isinstance(value, str) and value:
                return value
        children: list[object] = list(document.values())
    elif isinstance(document, list):
        children = list(document)
    else:
        return None
    return next((p for c in children if (p := _find_project(c)) is not None), None)


def _copy(origin: Path, destination: Path, replaced: dict[str, str]) -> None:
    """Copy the tree, text files with every id of `replaced` replaced."""
    private_folder(destination)
    for path in sorted(origin.rglob("*")):
        copy = destination / path.relative_to(origin)
        if path.is_dir():
            copy.mkdir(exist_ok=True)
        elif path.suffix in TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8")
            for old, new in replaced.items():
                text = text.replace(old, new)
            copy.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(path, copy)
