"""Who may talk to the engine's own endpoints: the one trust boundary of the AWS port.

Loopback is not a boundary: every local account, and every web page the
developer opens, can reach 127.0.0.1:4566. The AWS APIs are meant for anyone
there (that is what a local stack is), but the engine's own endpoints are not:

- `/moto-api/*` (moto's reset, `data.json` with every SQS message body, its
  dashboard), `/_inframock/*` and `/_localstack/health`, which moto serves with
  CORS that echoes any origin, so a `text/plain` POST from any page would
  reset the stack and any page could read its data;
- `/_ministack/*` on MiniStack (INFRAMOCK_ENGINE=ministack): its reset, its
  settings, the SQS and SES messages it holds, which it answers with
  `Access-Control-Allow-Origin: *` (engine/ministack/guard.py puts the same
  rules in front of it);
- `POST /_inframock/objects` (engine/object_files.py), which serves a file of
  this machine as an S3 object.

`Guard` answers 403 (a JSON `error`, no `Access-Control-Allow-*` header) to a
request for one of those paths when its `Host` does not name this stack (a
DNS-rebinding page names its own host), when it comes from another origin
(an `Origin` that is not `http://<its Host>`, or `Sec-Fetch-Site` `cross-site`
or `same-site`; preflights included), and, for the registration of files,
unless it comes from loopback with the stack's secret (SECRET_HEADER, compared
in constant time with what SECRET_ENV gave the engine). Requests without
`Origin` (curl, boto3, the readiness probe) pass. Any `Access-Control-*`
header moto adds to an own endpoint's answer is dropped, and each refusal is
a `warning: refused ...` line in the stack's log. Everything else (the AWS
APIs, with their CORS, the UI's presigned uploads) passes untouched.

What the engine is told comes from its environment (names in
inframock.engine.protocol): SECRET_ENV (the secret, made at stack start by
inframock/core/stack_secret.py) and FILE_ROOTS_ENV (the folders files may be
registered from, the path rule of object_files).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterable

from inframock.engine.protocol import FILE_ROOTS_ENV, SECRET_ENV, SECRET_HEADER

OWN_PREFIXES = ("/moto-api", "/_inframock", "/_localstack", "/_ministack")
"""moto routes every path starting with `/moto-api` to its own API, MiniStack
every one starting with `/_ministack` (its reset, its settings, the SQS and
SES messages it holds); the same test."""
SECRET_PATHS = ("/_inframock/objects",)
"""Own endpoints only the stack's loader, with the secret, may use."""
OWN_NAMES = ("localhost", "aws", "host.docker.internal")
"""Host names of the stack besides loopback addresses and its bind address:
the Compose road's service name, and the host as containers reach it."""
REFUSED_SITES = ("cross-site", "same-site")


def secret() -> str:
    """The stack's secret the engine was given; '' when none (the Compose road)."""
    return os.environ.get(SECRET_ENV, "")


def file_roots() -> tuple[Path, ...]:
    """The folders the engine was told files may be registered from, resolved."""
    return tuple(
        Path(part).resolve()
        for part in os.environ.get(FILE_ROOTS_ENV, "").split(os.pathsep)
        if part
    )


class Boundary:
    """Who may reach the engine's own endpoints (see the module's docstring):
    the rules alone, for the WSGI `Guard` here and MiniStack's ASGI one
    (inframock/engine/ministack/guard.py)."""

    def __init__(self, bind: str, stack_secret: str) -> None:
        self.bind = bind.strip("[]").lower()
        self.secret = stack_secret.encode()

    def refusal(self, environ: dict[str, Any], path: str) -> str:
        """Why the request (WSGI names: HTTP_HOST, HTTP_ORIGIN, REMOTE_ADDR...)
        may not reach `path`, or '' when it may."""
        host = environ.get("HTTP_HOST", "")
        if not self.is_own_host(host):
            return f"Host {host!r} is not this stack's address"
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin.lower() != f"http://{host}".lower():
            return f"cross-origin request from {origin!r} refused"
        site = environ.get("HTTP_SEC_FETCH_SITE", "").lower()
        if site in REFUSED_SITES:
            return f"{site} request refused"
        if path in SECRET_PATHS:
            given = environ.get("HTTP_" + SECRET_HEADER.upper().replace("-", "_"), "")
            if not (
                self.secret
                and _loopback(environ.get("REMOTE_ADDR", ""))
                and hmac.compare_digest(given.encode(), self.secret)
            ):
                return f"inframock's own loader only (no or wrong {SECRET_HEADER})"
        return ""

    def is_own_host(self, host: str) -> bool:
        """Whether `host` (a Host header) names this stack: a loopback address,
        its bind address or one of OWN_NAMES, on any port (a DNS-rebinding page
        can only send its own name; the port is no part of that)."""
        try:
            name = urllib.parse.urlsplit(f"//{host}").hostname or ""
        except ValueError:  # an unbalanced [
            return False
        return name in OWN_NAMES or _loopback(name) or bool(name) and name == self.bind

    def refused(self, method: str, path: str, environ: dict[str, Any]) -> bytes | None:
        """The JSON body of the 403 for a request to `path` (one of
        OWN_PREFIXES) that may not reach it (logged as a `warning: refused`
        line), or None when it may."""
        reason = self.refusal(environ, path)
        if not reason:
            return None
        _log(
            f"warning: refused {method} {path!r} from "
            f"{environ.get('REMOTE_ADDR')}: {reason}"
        )
        return json.dumps({"error": reason}).encode()


def is_cors_header(name: str) -> bool:
    """An `Access-Control-*` header, which an own endpoint's answer never keeps."""
    return name.lower().startswith("access-control-")


class Guard:
    """WSGI middleware refusing callers of the engine's own endpoints that are
    not the stack's own (see the module's docstring); the rest goes to `app`."""

    def __init__(
        self, app: Callable[..., Iterable[bytes]], bind: str, stack_secret: str
    ) -> None:
        self.app = app
        self.boundary = Boundary(bind, stack_secret)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(OWN_PREFIXES):
            return self.app(environ, start_response)
        body = self.boundary.refused(environ.get("REQUEST_METHOD", ""), path, environ)
        if body is not None:
            start_response("403 Forbidden", refusal_headers(body))
            return [body]

        def without_cors(status: str, headers: list[Any], *rest: Any) -> Any:
            kept = [h for h in headers if not is_cors_header(h[0])]
            return start_response(status, kept, *rest)

        return self.app(environ, without_cors)


def refusal_headers(body: bytes) -> list[tuple[str, str]]:
    """The headers of a refusal: JSON, never cached, no CORS."""
    return [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]


def _log(line: str) -> None:
    """One line on the engine's stderr (the stack relays it to its log)."""
    print(line, file=sys.stderr, flush=True)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
