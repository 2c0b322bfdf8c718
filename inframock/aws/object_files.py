"""Ask the stack's engine to serve an S3 object from a file, instead of uploading it.

The client side of `inframock/engine/object_files.py`: one small JSON request
names the file, and no object bytes cross HTTP. The engine answers only a
loopback caller with the stack's secret (inframock/core/stack_secret.py, sent as
engine/protocol.py's SECRET_HEADER), and only for a file of its object cache it
can see; anywhere else (the Docker road's engine in its container, which has
no secret, a remote endpoint, a plain moto) the answer is `None`, and the
caller uploads through S3 as before.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from inframock.aws.clients import INTERNAL_HEADER
from inframock.core.errors import InframockError
from inframock.engine.protocol import OBJECTS_ANSWERED_BY, OBJECTS_PATH, SECRET_HEADER

TIMEOUT = 30
NOT_HERE = (403, 404, 405, 409)
"""Answers that mean "cannot serve that file (no or another secret, outside
the engine's folders, not visible, no such bucket)": upload instead."""


@dataclasses.dataclass(frozen=True)
class Registered:
    """What the engine made of a registration."""

    etag: str | None
    """None when the engine computes it when first asked (no MD5 was given)."""
    size: int
    version_id: str


class RegistrationFailed(InframockError):
    """The engine was reached but refused the registration for another reason."""


def is_local(endpoint: str) -> bool:
    """Whether `endpoint`'s host is this machine (the only place a file is visible)."""
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register_file(
    endpoint: str,
    bucket: str,
    key: str,
    path: Path,
    *,
    secret: str,
    md5: str | None = None,
    crc32: int | None = None,
    content_type: str = "binary/octet-stream",
) -> Registered | None:
    """Have the engine at `endpoint` serve `bucket/key` from `path`, with the
    stack's `secret`.

    None when this engine cannot (not local, not ours, file not visible).
    """
    if not is_local(endpoint):
        return None
    body = json.dumps(
        {
            "bucket": bucket,
            "key": key,
            "path": str(path.resolve()),
            "md5": md5,
            "crc32": crc32,
            "content_type": content_type,
        }
    ).encode()
    request = urllib.request.Request(
        endpoint.rstrip("/") + OBJECTS_PATH,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            INTERNAL_HEADER: "provision",
            SECRET_HEADER: secret,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            if response.headers.get(OBJECTS_ANSWERED_BY) is None:
                return None
            answer = json.loads(response.read())
    except urllib.error.HTTPError as err:
        if err.code in NOT_HERE or err.headers.get(OBJECTS_ANSWERED_BY) is None:
            return None
        raise RegistrationFailed(f"{err.code} {err.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError):
        return None  # unreachable: the upload's retries and error say so
    except ValueError as err:
        raise RegistrationFailed(f"unreadable answer: {err}") from None
    return Registered(answer["etag"], int(answer["size"]), answer["version_id"])
