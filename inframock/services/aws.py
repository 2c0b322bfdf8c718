"""The AWS engine: moto's server as a child of the embedded stack.

Started as `python -m inframock.engine` (see inframock/engine/server.py) with
the account id the Cellenics services expect, its persistence settings and
the stack's secret; on the Docker road it is the `aws` container. Either way
status asks it over HTTP, and `make env` points aws-cli and the SDKs at it.
"""

from __future__ import annotations

import importlib.metadata
import signal
import sys
from pathlib import Path

from inframock.core import stack_secret
from inframock.core.probes import http_ok, stack_is_reachable
from inframock.core.settings import Settings, url_host
from inframock.data.object_cache import FOLDER as OBJECT_CACHE
from inframock.engine import protocol
from inframock.model.stack import ACCOUNT_ID
from inframock.services.base import (
    SAVE_TIMEOUT,
    Declaration,
    Service,
    ServiceStatus,
    child_environment,
    with_process,
)


def aws_service(settings: Settings) -> Service:
    """moto's own server, with the account id the Cellenics services expect,
    and a new secret of the stack (its loader's proof, see engine/guard.py)."""
    version = importlib.metadata.version("moto")
    no_proxy = "127.0.0.1,localhost,::1,host.docker.internal"
    env = child_environment(
        MOTO_ACCOUNT_ID=ACCOUNT_ID,
        AWS_DEFAULT_REGION=settings.region,
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
        PYTHONUNBUFFERED="1",
        INFRAMOCK_LOG=settings.log,
        # The Redis its health endpoint pings (inframock/engine/health.py).
        INFRAMOCK_ENGINE_REDIS=f"{settings.client_host}:{settings.redis_port}",
        **persisted_state(settings),
        # Who may register files, and from where (inframock/engine/guard.py).
        **{
            protocol.SECRET_ENV: stack_secret.create(settings.state_dir),
            protocol.FILE_ROOTS_ENV: str(settings.state_dir.absolute() / OBJECT_CACHE),
        },
        # The pipeline launcher and activities (inframock/engine/stepfunctions).
        SANDBOX_ID=settings.sandbox_id,
        INFRAMOCK_PIPELINE_COMMAND=settings.pipeline_command,
        INFRAMOCK_PIPELINE_HOST_IP=settings.pipeline_host_ip,
        INFRAMOCK_ACTIVITY_POLL_SECONDS=str(settings.activity_poll_seconds),
    )
    url = f"http://{url_host(settings.client_host)}:{settings.aws_port}/moto-api/"
    return Service(
        name="aws",
        description=f"moto {version}",
        # moto's own server and app, warmed up first (see inframock/engine/server.py).
        command=(
            sys.executable,
            "-m",
            "inframock.engine",
            settings.bind,
            str(settings.aws_port),
        ),
        env=env,
        host=settings.bind,
        port=settings.aws_port,
        is_ready=lambda: http_ok(url),
        style="cyan",
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


def _status(settings: Settings, recorded: str, pid: int | None) -> ServiceStatus:
    up = stack_is_reachable(settings)
    service = ServiceStatus("aws", up, settings.aws_endpoint, recorded or "?")
    return with_process(service, pid) if up else service


def _exports(settings: Settings) -> dict[str, str]:
    """aws-cli and the SDKs: this endpoint, its region, dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": settings.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
    }


def _child(settings: Settings, _: Path) -> Service:
    return aws_service(settings)


DECLARATION = Declaration(
    name="aws",
    child=_child,
    port_field="aws_port",
    address=lambda settings: settings.aws_endpoint,
    status=_status,
    exports=_exports,
)
