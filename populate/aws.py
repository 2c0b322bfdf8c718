"""boto3 clients for the stack's AWS endpoint, and the guard that keeps them local.

Every client inframock makes goes through `Clients`, so every one carries the
same dummy credentials (a developer's real AWS keys are never read, sent or
printed), the same bounded retries and the same endpoint check.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=32,
)


class EndpointRefused(RuntimeError):
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


class Clients:
    """Lazily made, shared boto3 clients and resources for one endpoint."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self._session = boto3.session.Session(region_name=region, **DUMMY_CREDENTIALS)

    def _options(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint, "config": RETRIES}

    @functools.cached_property
    def s3(self) -> Any:
        """The S3 client."""
        return self._session.client("s3", **self._options())

    @functools.cached_property
    def dynamodb(self) -> Any:
        """The DynamoDB client."""
        return self._session.client("dynamodb", **self._options())

    @functools.cached_property
    def sns(self) -> Any:
        """The SNS client."""
        return self._session.client("sns", **self._options())

    @functools.cached_property
    def sqs(self) -> Any:
        """The SQS client."""
        return self._session.client("sqs", **self._options())
