"""The engine's log: one line per AWS request that says what happened.

werkzeug's access log (`"POST / HTTP/1.1" 200`) names neither the service nor
the operation: almost every AWS call is a POST to `/`. `OpLog` sits in front of
moto's app and writes instead

    sqs SendMessage development-queue.fifo → 200 (3 ms)
    dynamodb GetItem nope → 400 ResourceNotFoundException: Requested ... (2 ms)

(errors in red, with the code and message of the response body; what the
request asked for is `calls.describe`'s, from moto's own dispatch). Health
checks and inframock's own calls (those carrying `X-Inframock-Internal`, sent
by `inframock.aws.clients`) are counted and summarised in one line once they
pause, not listed. `INFRAMOCK_LOG` picks the log: `ops` (this), `http`
(werkzeug's access lines, as before) or `quiet` (neither).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import sys
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from inframock.engine.calls import Call, describe, signed_service

MODES = ("ops", "http", "quiet")
INTERNAL_HEADER = "X-Inframock-Internal"
"""Set by inframock's own clients to the purpose of the call (`provision`, ...)."""
HEALTH_PATHS = ("/moto-api", "/_inframock/health", "/_localstack/health")
ERROR_BODY_LIMIT = 64 * 1024
RED, RESET = "\x1b[31m", "\x1b[0m"
SUMMARY_IDLE = 1.0
"""Seconds without a summarised request after which its summary is written."""
SUMMARY_EVERY = 60.0
"""Longest a summary waits while such requests keep coming."""


def error_detail(body: bytes, headers: dict[str, str]) -> str:
    """`Code: message` from an AWS error body, XML or JSON (empty if none)."""
    text = body.decode("utf-8", "replace")
    code = message = ""
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            code = str(parsed.get("__type", parsed.get("code", ""))).rsplit("#", 1)[-1]
            message = str(parsed.get("message", parsed.get("Message", "")))
    else:
        found = re.search(r"<Code>(.*?)</Code>", text, re.S)
        said = re.search(r"<Message>(.*?)</Message>", text, re.S)
        code = found.group(1).strip() if found else ""
        message = said.group(1).strip() if said else ""
    query_error = headers.get("x-amzn-query-error", "")
    if query_error:  # SQS's JSON protocol names the query protocol's code here
        code = query_error.split(";", 1)[0]
    return f"{code}: {message}" if code and message else code or message


def format_line(call: Call, status: int, millis: float, detail: str = "") -> str:
    """The log line of one request; an error's in red."""
    outcome = f"{status} {detail}" if detail else str(status)
    line = f"{call} → {outcome} ({millis:.0f} ms)"
    return f"{RED}{line}{RESET}" if status >= 400 else line


@dataclasses.dataclass
class Summary:
    """Requests of one kind (health checks, `inframock provision`) not yet written."""

    label: str
    first: float
    last: float
    parts: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    statuses: collections.Counter[int] = dataclasses.field(
        default_factory=collections.Counter
    )

    def line(self) -> str:
        """`health checks: 12 requests (/moto-api/ 12) → 200`."""
        count = sum(self.parts.values())
        parts = ", ".join(f"{p} {n}" for p, n in sorted(self.parts.items()))
        statuses = ", ".join(
            f"{s} ×{n}" if len(self.statuses) > 1 else str(s)
            for s, n in sorted(self.statuses.items())
        )
        noun = "request" if count == 1 else "requests"
        return f"{self.label}: {count} {noun} ({parts}) → {statuses}"


class OpLog:
    """WSGI middleware writing one line per request (see the module's docstring)."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        write: Callable[[str], None] | None = None,
        idle: float = SUMMARY_IDLE,
        every: float = SUMMARY_EVERY,
    ) -> None:
        self.app = app
        self.write = write or _print
        self.idle, self.every = idle, every
        self._summaries: dict[str, Summary] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._flush_forever, name="oplog", daemon=True).start()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.monotonic()
        group = _group(environ)
        seen: dict[str, Any] = {}

        def recording(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"] = int(status.split(" ", 1)[0])
            seen["headers"] = {k.lower(): v for k, v in headers}
            return start_response(status, headers, *exc)

        def done(error_body: bytes) -> None:
            status = seen.get("status", 500)
            if group:
                self._count(group, environ, status)
                return
            call = describe(environ)
            detail = error_detail(error_body, seen.get("headers", {}))
            if status >= 400 and not detail:
                detail = _reason(status)
            millis = (time.monotonic() - started) * 1000
            self.write(format_line(call, status, millis, detail))

        try:
            result = self.app(environ, recording)
        except Exception:
            seen["status"] = 500  # werkzeug answers 500 and prints the traceback
            done(b"")
            raise
        return _Watched(result, lambda: seen.get("status", 0) >= 400, done)

    def _count(
        self, group: tuple[str, str], environ: dict[str, Any], status: int
    ) -> None:
        label, part = group
        if not part:
            part = signed_service(environ)
        now = time.monotonic()
        with self._lock:
            summary = self._summaries.setdefault(label, Summary(label, now, now))
            summary.last = now
            summary.parts[part] += 1
            summary.statuses[status] += 1

    def flush(self, everything: bool = False) -> None:
        """Write the summaries that have paused long enough (or all of them)."""
        now = time.monotonic()
        with self._lock:
            due = [
                s
                for s in self._summaries.values()
                if everything
                or now - s.last >= self.idle
                or now - s.first >= self.every
            ]
            for summary in due:
                del self._summaries[summary.label]
        for summary in due:
            self.write(summary.line())

    def _flush_forever(self) -> None:
        tick = threading.Event()
        while not tick.wait(min(self.idle, 0.25)):
            self.flush()


class _Watched:
    """A response body passed through, calling `done` when the server closes it.

    Error bodies (small) are kept for their code and message.
    """

    def __init__(
        self,
        result: Iterable[bytes],
        is_error: Callable[[], bool],
        done: Callable[[bytes], None],
    ) -> None:
        self.result = result
        self.is_error = is_error
        self.done = done
        self.kept = bytearray()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.result:
            if self.is_error() and len(self.kept) < ERROR_BODY_LIMIT:
                self.kept += chunk[: ERROR_BODY_LIMIT - len(self.kept)]
            yield chunk

    def close(self) -> None:
        """Close the app's body, then log the request."""
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.done(bytes(self.kept))


def _group(environ: dict[str, Any]) -> tuple[str, str] | None:
    """The summary a request counts in, and under what, if it is not listed."""
    path = environ.get("PATH_INFO", "")
    if path.startswith(HEALTH_PATHS):
        return "health checks", path
    purpose = environ.get("HTTP_X_INFRAMOCK_INTERNAL", "")
    if purpose:
        return f"inframock {purpose}", ""
    return None


def _reason(status: int) -> str:
    from http import HTTPStatus  # pylint: disable=import-outside-toplevel

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


_WRITING = threading.Lock()


def _print(line: str) -> None:
    with _WRITING:  # whole lines, whichever thread writes
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def without_access_log(handler: type) -> type:
    """`handler` (a werkzeug request handler) writing no access log line."""

    def log_request(self: Any, *_: Any) -> None:
        del self

    return type(handler.__name__, (handler,), {"log_request": log_request})
