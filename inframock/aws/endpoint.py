"""The guard that keeps inframock's writes on this machine.

Kept apart from the boto3 clients so the check costs no boto3 import: it runs
before anything else in every command that writes.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit
from inframock.core.errors import InframockError


class EndpointRefused(InframockError):
    """The endpoint is not on this machine and the user did not allow it."""


def endpoint_host_port(endpoint: str) -> tuple[str, int]:
    """The host and port of an endpoint URL (port defaulted from the scheme)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EndpointRefused(f"{endpoint!r} is not an http(s) URL")
    default_port = 443 if parts.scheme == "https" else 80
    return parts.hostname, parts.port or default_port


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(info[4][0]).is_loopback for info in infos
    )


def check_endpoint_is_local(endpoint: str, allowed: str) -> None:
    """Refuse `endpoint` unless it is on this machine or named by `allowed`.

    `allowed` is the `host:port` the user explicitly permits (the Compose road
    names its `aws:4566` service this way); anything else that does not resolve
    only to loopback addresses, real AWS included, is refused before any call.
    """
    host, port = endpoint_host_port(endpoint)
    if allowed and allowed == f"{host}:{port}":
        return
    if host.endswith("amazonaws.com") or not _is_loopback(host):
        raise EndpointRefused(
            f"refusing to write to {endpoint}: it is not an endpoint on this machine. "
            f"To write there anyway, set INFRAMOCK_ALLOW_ENDPOINT={host}:{port}"
        )
