"""moto's Batch service, imported only when a request uses it.

moto's state machine interpreter imports `moto.batch.utils` for its Batch
task states; importing it runs `moto/batch/__init__.py`, which imports Batch's
models, and they import EC2, whose module builds its region list with three
fresh botocore sessions: 0.9 s of CPU on the engine's first Step Functions or
Lambda request, which provisioning of the `current` profile makes on the
critical path of every start. Cellenics' state machines have no Batch
states, so here `moto.batch` is a package whose submodules import as usual
and whose own code runs on the first use of one of its names (moto's Batch
requests, a Batch task state). Registered as patch `sfn-batch-deferred`;
tests/unit/test_engine_patches.py tells when moto no longer needs it.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

PACKAGE = "moto.batch"


def defer() -> None:
    """Make `moto.batch` a package whose `__init__` runs on first use; a
    no-op once it is imported."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None and spec.loader is not None, PACKAGE
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    running = threading.Lock()

    def first_use(name: str) -> Any:
        with running:  # two first uses at once run it once
            if module.__dict__.pop("__getattr__", None) is not None:
                loader.exec_module(module)  # the real names from now on
        return getattr(module, name)

    module.__dict__["__getattr__"] = first_use
    sys.modules[PACKAGE] = module
    setattr(sys.modules["moto"], "batch", module)
