"""The AWS engines the `aws` service can run (INFRAMOCK_ENGINE, registered in
`ENGINES` of inframock.core.settings): one module each, with its
`aws_service(settings, tmp)`, the child process the supervisor starts.
Everything else of the `aws` service (status, exports) is the same for both
and lives in inframock.services.aws; what every engine's child shares is
here."""

from __future__ import annotations

from typing import Any

from inframock.core import stack_secret
from inframock.core.probes import http_ok
from inframock.core.settings import Settings, url_host
from inframock.engine import protocol
from inframock.services.base import Service, child_environment

NO_PROXY = "127.0.0.1,localhost,::1,host.docker.internal"
"""What an engine reaches directly, whatever proxy the developer has set."""


def engine_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """Every engine's environment: no AWS credentials, no proxy for this
    machine, unbuffered output, its region and a new secret of the stack (the
    loader's proof, see inframock/engine/guard.py), plus `extra`."""
    return child_environment(
        AWS_DEFAULT_REGION=settings.region,
        NO_PROXY=NO_PROXY,
        no_proxy=NO_PROXY,
        PYTHONUNBUFFERED="1",
        **{protocol.SECRET_ENV: stack_secret.create(settings.state_dir)},
        **extra,
    )


def engine_child(  # pylint: disable=too-many-arguments
    settings: Settings,
    *,
    description: str,
    python: str,
    module: str,
    env: dict[str, str],
    ready_path: str,
    **more: Any,
) -> Service:
    """The `aws` child: `python -m module BIND PORT`, ready once `ready_path`
    answers 200; `more` are Service's other fields (stop timeout, signals)."""
    url = f"http://{url_host(settings.client_host)}:{settings.aws_port}{ready_path}"
    return Service(
        name="aws",
        description=description,
        command=(python, "-m", module, settings.bind, str(settings.aws_port)),
        env=env,
        host=settings.bind,
        port=settings.aws_port,
        is_ready=lambda: http_ok(url),
        style="cyan",
        **more,
    )
