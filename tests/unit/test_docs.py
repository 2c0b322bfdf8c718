"""The docs hold together: a short README that links every docs page, links that
lead somewhere, and every setting and `make` target documented on its page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inframock.core.settings_list import SECTIONS
from inframock.testing.harness import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
TARGET = re.compile(r"^([a-zA-Z_-]+):.*## ", re.MULTILINE)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in HEADING.findall(text)
    }


def local_links(page: Path) -> list[str]:
    """The page's links to files of this repository (with their anchors)."""
    return [
        link
        for link in LINK.findall(page.read_text(encoding="utf-8"))
        if not re.match(r"[a-z]+:", link)
    ]


def test_the_readme_is_read_in_five_minutes() -> None:
    assert README.stat().st_size <= 12 * 1024


def test_the_readme_links_every_docs_page() -> None:
    linked = {(ROOT / link.split("#")[0]).resolve() for link in local_links(README)}
    assert PAGES, "no docs pages"
    assert [page.name for page in PAGES if page.resolve() not in linked] == []


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda page: page.name)
def test_every_link_leads_to_a_file_and_heading(page: Path) -> None:
    for link in local_links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: {link} leads to no file"
        if anchor and target.suffix == ".md":
            assert anchor in anchors(target), f"{page.name}: {link}: no such heading"


def test_the_settings_page_names_every_setting() -> None:
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    names = [setting.name for section in SECTIONS for setting in section.settings]
    assert [name for name in names if f"`{name}`" not in page] == []


def test_the_commands_page_names_every_make_target() -> None:
    targets = TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8"))
    page = (DOCS / "commands.md").read_text(encoding="utf-8")
    assert len(targets) > 10
    assert [t for t in targets if f"`make {t}" not in page] == []


def test_the_architecture_page_names_every_module() -> None:
    """A newcomer finds each module's home in the layout of docs/architecture.md."""
    layout = (DOCS / "architecture.md").read_text(encoding="utf-8")
    modules = {
        path.name
        for path in (ROOT / "inframock").rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    missing = sorted(name for name in modules if name not in layout)
    assert not missing, f"add to docs/architecture.md's layout: {missing}"
