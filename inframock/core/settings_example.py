"""`.env.example`, rendered from the settings' own text (inframock.core.settings_list).

    .venv/bin/python -m inframock.core.settings_example [PATH]   # make env-example

writes PATH (default `.env.example`). The file is never edited by hand: a test
fails when it differs from what this renders, so a new setting, or a changed
default or comment, is one edit in inframock/core/settings_list.py.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from inframock.core.files import write_atomically
from inframock.core.settings_list import SECTIONS, Setting

WIDTH = 80
HEADER = """\
# inframock settings. Copy to `.env` and change what you need; variables set in
# the environment win over this file. Every line shows the default; a setting
# whose default depends on the road (embedded or Docker) is commented out, so
# copying this file changes nothing on either road.
# Generated from inframock/core/settings_list.py by `make env-example`: edit there.
"""


def comment(text: str) -> list[str]:
    """`text` as `# ` lines of at most WIDTH columns, one paragraph per line of
    it; a paragraph starting `e.g. ` is a line to copy and stays whole."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        if paragraph.startswith("e.g. "):
            lines.append(f"# {paragraph}")
            continue
        lines += textwrap.wrap(
            paragraph,
            WIDTH,
            initial_indent="# ",
            subsequent_indent="# ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return lines


def assignment(setting: Setting) -> str:
    """The setting's line: `NAME=default`, commented out when it must not apply."""
    line = f"{setting.name}={setting.example or setting.default}"
    return f"# {line}" if setting.commented_out else line


def render() -> str:
    """The whole `.env.example`."""
    lines = [HEADER.rstrip("\n")]
    for section in SECTIONS:
        lines += ["", f"# --- {section.title} ".ljust(WIDTH - 1, "-")]
        for setting in section.settings:
            lines += comment(setting.doc) + [assignment(setting)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Write the file; 0."""
    path = Path(argv[0] if argv else ".env.example")
    write_atomically(path, render())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
