"""moto as the stack's AWS engine (INFRAMOCK_ENGINE=moto, the default).

Started as `python -m inframock.engine` (see inframock/engine/server.py): moto's
own server with inframock's patches, the account id the Cellenics services
expect, its persistence settings and the stack's secret.
"""

from __future__ import annotations

import importlib.metadata
import signal
import sys
from pathlib import Path

from inframock.core.settings import Settings
from inframock.data.object_cache import FOLDER as OBJECT_CACHE
from inframock.engine import protocol
from inframock.model.stack import ACCOUNT_ID
from inframock.services.base import SAVE_TIMEOUT, Service
from inframock.services.engines import engine_child, engine_environment

COMPOSE: dict[str, str] = {}
"""The Compose variables the Docker road sets for this engine: none, the
Compose file's defaults are moto's image and inframock's engine on it."""


def aws_service(settings: Settings, _tmp: Path) -> Service:
    """moto's own server, with the account id the Cellenics services expect."""
    env = engine_environment(
        settings,
        MOTO_ACCOUNT_ID=ACCOUNT_ID,
        INFRAMOCK_LOG=settings.log,
        # The Redis its health endpoint pings (inframock/engine/health.py).
        INFRAMOCK_ENGINE_REDIS=f"{settings.client_host}:{settings.redis_port}",
        **persisted_state(settings),
        # Where files may be registered from (inframock/engine/guard.py).
        **{protocol.FILE_ROOTS_ENV: str(settings.state_dir.absolute() / OBJECT_CACHE)},
        # The pipeline launcher and activities (inframock/engine/stepfunctions).
        SANDBOX_ID=settings.sandbox_id,
        INFRAMOCK_PIPELINE_COMMAND=settings.pipeline_command,
        INFRAMOCK_PIPELINE_HOST_IP=settings.pipeline_host_ip,
        INFRAMOCK_ACTIVITY_POLL_SECONDS=str(settings.activity_poll_seconds),
    )
    return engine_child(
        settings,
        description=f"moto {importlib.metadata.version('moto')}",
        # moto's own server and app, warmed up first (see inframock/engine/server.py).
        python=sys.executable,
        module="inframock.engine",
        env=env,
        ready_path="/moto-api/",
        stop_timeout=SAVE_TIMEOUT if settings.persist else 3.0,
        # Even when `make run` is killed, the state is saved.
        death_signal=signal.SIGTERM if settings.persist else signal.SIGKILL,
    )


def persisted_state(settings: Settings) -> dict[str, str]:
    """The engine's environment for INFRAMOCK_PERSIST (inframock.engine.protocol):
    where it saves its state, and the loader's record saved with it (so a
    reload after the restore loads what changed since that state, no less)."""
    if not settings.persist:
        return {}
    # pylint: disable-next=import-outside-toplevel
    from inframock.data.digests import DIGEST_FILE

    return {
        protocol.STATE_ENV: str(settings.persist_dir.absolute()),
        protocol.WITH_ENV: str((settings.state_dir / DIGEST_FILE).absolute()),
    }
