"""MiniStack as the stack's AWS engine (INFRAMOCK_ENGINE=ministack).

Started as `python -m inframock.engine.ministack` with the Python of
`.venv-ministack` (MiniStack pins an older botocore than ours, so it has a
virtualenv of its own, made or brought up to date before each start by
scripts/setup_venv.py) and the checkout on PYTHONPATH, behind the same trust
boundary as moto (inframock/engine/ministack/guard.py). It serves only the
services a Cellenics stack uses, with the account id and region the Cellenics
services expect, and the queue URLs it returns name the stack's address.

What it does not do yet is refused here in one line: INFRAMOCK_PERSIST
(MiniStack's own persistence loses queues and tables on `kill -9`). The
loader's zero-copy object serving, the operation log and inframock's health
endpoint are moto's: on MiniStack objects are uploaded (the loader falls back
by itself), MiniStack logs its own lines, and `/_localstack/health` is its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from inframock.core.checkout import CHECKOUT
from inframock.core.settings import Settings
from inframock.model.stack import ACCOUNT_ID
from inframock.services.base import EngineError, Service
from inframock.engine.protocol import MINISTACK_RELEASE
from inframock.services.engines import engine_child, engine_environment

VENV = CHECKOUT / ".venv-ministack"
COMPOSE = {
    "INFRAMOCK_AWS_IMAGE": f"ministackorg/ministack:{MINISTACK_RELEASE}",
    "INFRAMOCK_AWS_ENTRYPOINT": "python -m inframock.engine.ministack 0.0.0.0 4566",
}
"""The Compose variables the Docker road sets for this engine: MiniStack's
image at the release inframock's patches were checked against, running
inframock's server of it (its patches, guard and CORS; docker-compose.yml
mounts inframock and sets MiniStack's settings)."""
SERVICES = "s3,sqs,sns,dynamodb,stepfunctions,lambda,iam,sts"
"""What MiniStack serves: what the Cellenics profiles use, nothing more (each
service it serves is more that any local caller can drive)."""


def engine_python() -> Path:
    """MiniStack's virtualenv's Python, set up first if needed (progress lines
    on the terminal: about 10 s the first time, nothing after)."""
    setup = CHECKOUT / "scripts" / "setup_venv.py"
    if not setup.exists():
        raise EngineError(
            f"INFRAMOCK_ENGINE=ministack needs a checkout of inframock ({setup} "
            "is missing)"
        )
    done = subprocess.run(
        [sys.executable, str(setup), "ministack", str(VENV)], check=False
    )
    if done.returncode != 0:
        raise EngineError(
            f"MiniStack's virtualenv {VENV} could not be set up (see above); "
            "INFRAMOCK_ENGINE=moto needs none"
        )
    return VENV / "bin" / "python"


def version() -> str:
    """`ministack 1.5.33`, as installed in its virtualenv."""
    found = sorted(VENV.glob("lib/python*/site-packages/ministack-*.dist-info"))
    name = found[-1].name.removesuffix(".dist-info") if found else "ministack-?"
    return name.replace("-", " ", 1)


def aws_service(settings: Settings, tmp: Path) -> Service:
    """MiniStack's server on the stack's address and port, quiet unless
    INFRAMOCK_LOG=http, its temporary files in the stack's folder."""
    if settings.persist:
        raise EngineError(
            "INFRAMOCK_PERSIST needs INFRAMOCK_ENGINE=moto: MiniStack's own "
            "persistence loses queues and tables when it is killed"
        )
    python = engine_python()  # first: its version is read from its virtualenv
    env = engine_environment(
        settings,
        GATEWAY_PORT=str(settings.aws_port),
        BIND_HOST=settings.bind,
        MINISTACK_HOST=settings.client_host,
        MINISTACK_ACCOUNT_ID=ACCOUNT_ID,
        MINISTACK_REGION=settings.region,
        SERVICES=SERVICES,
        LOG_LEVEL="INFO" if settings.log == "http" else "WARNING",
        TMPDIR=str(tmp),
        PYTHONPATH=str(CHECKOUT),
    )
    return engine_child(
        settings,
        description=version(),
        python=str(python),
        module="inframock.engine.ministack",
        env=env,
        ready_path="/_ministack/ready",
    )
