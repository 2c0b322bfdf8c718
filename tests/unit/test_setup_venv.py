"""The virtualenv set-up of `make run` (scripts/setup_venv.py), run for real.

It installs from the package index into a fresh virtualenv, so it takes some
seconds; it checks what a first `make run` shows and installs, not how fast.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inframock.testing.checkout import setup_copy

pytestmark = pytest.mark.slow


def test_run_installs_what_the_stack_needs_with_progress_and_one_at_a_time(
    tmp_path: Path,
) -> None:
    venv = setup_copy(tmp_path)
    command = [sys.executable, str(tmp_path / "scripts" / "setup_venv.py")]
    first, second = (
        subprocess.Popen(  # pylint: disable=consider-using-with
            command + ["run", str(venv)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        for _ in range(2)
    )
    outputs = [process.communicate(timeout=240)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    installs = [out for out in outputs if "installing what the stack needs" in out]
    assert len(installs) == 1, outputs  # the other waited and found it done
    assert "moto" in installs[0] and "is ready" in installs[0], installs[0]
    # Installed with its bytecode: no process compiles moto where
    # PYTHONDONTWRITEBYTECODE is set (checked before
    # anything here imports it).
    tag = sys.implementation.cache_tag
    assert list(venv.glob(f"lib/*/site-packages/moto/__pycache__/__init__.{tag}.pyc"))
    python = venv / "bin" / "python"
    for module, wanted in (("moto", 0), ("inframock", 0), ("pytest", 1)):
        found = subprocess.run(
            [str(python), "-c", f"import {module}"], capture_output=True, check=False
        )
        assert found.returncode == wanted, (module, found.stderr)
    assert not (venv / "bin" / "pylint").exists()
    assert (venv / ".installed-run").exists()
    again = subprocess.run(
        command + ["run", str(venv)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert again.stdout == "", again.stdout  # up to date: nothing to say
