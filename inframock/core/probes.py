"""Is a service there? Cheap probes over the wire, for readiness and status.

They go straight to the stack (never through a user's proxy), need no client
library, and answer a plain yes or no.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine imports this module where settings' libraries are not
    from inframock.core.settings import Settings

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Probes of the stack go straight to it, whatever proxy the user has set."""
PROBE_TIMEOUT = 0.5


def http_ok(url: str) -> bool:
    """True when `url` answers 200 (the AWS endpoint's readiness)."""
    try:
        with DIRECT.open(url, timeout=PROBE_TIMEOUT) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def redis_ping(host: str, port: int) -> bool:
    """True when a RESP PING gets PONG (Redis's readiness), without a client library."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def stack_is_reachable(settings: Settings) -> bool:
    """True when something answers HTTP at the AWS endpoint."""
    try:
        with DIRECT.open(settings.aws_endpoint, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an error status is still an answer
    except OSError:
        return False
