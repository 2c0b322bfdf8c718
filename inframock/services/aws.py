"""The AWS engine as a service of the stack: the engine INFRAMOCK_ENGINE names.

On the embedded road a child of the stack, started by the module of
inframock.services.engines the engine registry (`ENGINES`, in
inframock.core.settings) names; on the Docker road the `aws` container.
Either way status asks it over HTTP, and `make env` points aws-cli and the
SDKs at it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from inframock.core.probes import stack_is_reachable
from inframock.core.settings import ENGINES, Settings
from inframock.services.base import Declaration, Service, ServiceStatus, with_process


def aws_service(settings: Settings, tmp: Path) -> Service:
    """The engine's child process (`tmp`: the stack's temporary folder)."""
    module = importlib.import_module(ENGINES[settings.engine])
    service: Service = module.aws_service(settings, tmp)
    return service


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


DECLARATION = Declaration(
    name="aws",
    child=aws_service,
    port_field="aws_port",
    address=lambda settings: settings.aws_endpoint,
    status=_status,
    exports=_exports,
)
