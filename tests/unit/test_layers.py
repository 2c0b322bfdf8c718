"""The packages' layers: no import runs back up a layer, so no circles.

docs/architecture.md explains the order; this test keeps it. Each package of
`inframock` may import its own modules and the packages below it, never one
above it. The engine runs in a process of its own: what the client side
needs of it (file names, headers, paths) is in `engine.protocol`, the one
module of the engine that other layers may import.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "inframock"

LAYERS = (
    "core",
    "model",
    "views",
    "aws",
    "data",
    "engine",
    "services",
    "features",
    "roads",
    "cli",
    "testing",
)
"""From the bottom up."""

OPEN_MODULES = {"inframock.engine.protocol"}
"""Modules any layer may import, whatever their package's layer."""


def _type_only(tree: ast.Module) -> set[int]:
    """The ids of the nodes inside `if TYPE_CHECKING:` blocks."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }


def _imports(path: Path) -> set[str]:
    """The inframock modules `path` imports when it runs (also inside
    functions); imports for type checking only never run, and may name the
    data a view renders from the layer that produces it."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "inframock":
                found.update(f"inframock.{alias.name}" for alias in node.names)
            elif node.module.startswith("inframock."):
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("inframock"))
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def _upward_imports() -> list[str]:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts)
        own = _layer(module)
        if own is None:
            continue
        for target in sorted(_imports(path)):
            theirs = _layer(target)
            if theirs is None or theirs <= own:
                continue
            if any(target == m or target.startswith(m + ".") for m in OPEN_MODULES):
                continue
            wrong.append(
                f"{module} imports {target} ({LAYERS[theirs]} is above {LAYERS[own]})"
            )
    return sorted(set(wrong))


def test_every_package_is_in_a_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS)


def test_no_import_runs_up_a_layer() -> None:
    assert _upward_imports() == []
