"""The checkout inframock runs from, found in one place.

inframock runs from its repository (`make run`), not as an installed
package: the files beside the package (docker-compose.yml, scripts/, the
virtualenvs `make` sets up) are found from here.
"""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
"""The repository's top folder: the one holding `inframock/` and the Makefile."""
