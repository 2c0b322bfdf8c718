"""engine/guard.py's rules in front of MiniStack, whose app is ASGI.

Plain MiniStack answers `POST /_ministack/reset` (which wipes the stack) and
`/_ministack/config` (which changes its settings) to any page of any origin,
with `Access-Control-Allow-Origin: *`. Here the same `Boundary` as moto's
`Guard` decides who may reach them; the request is never passed on when it
may not, and an own endpoint's answer loses its `Access-Control-*` headers.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from inframock.engine.guard import (
    OWN_PREFIXES,
    Boundary,
    is_cors_header,
    refusal_headers,
)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def wsgi_names(scope: Scope) -> dict[str, Any]:
    """The request's headers and peer under the names `Boundary` reads
    (HTTP_HOST, HTTP_ORIGIN, REMOTE_ADDR...)."""
    names: dict[str, Any] = {
        "HTTP_"
        + key.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
        for key, value in scope.get("headers", ())
    }
    names["REMOTE_ADDR"] = (scope.get("client") or ("", 0))[0]
    return names


class AsgiGuard:
    """ASGI middleware: `Boundary`'s refusals, the rest to `app` untouched."""

    def __init__(self, app: App, boundary: Boundary) -> None:
        self.app = app
        self.boundary = boundary

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope.get("type") != "http" or not path.startswith(OWN_PREFIXES):
            await self.app(scope, receive, send)
            return
        body = self.boundary.refused(scope.get("method", ""), path, wsgi_names(scope))
        if body is not None:
            headers = [(k.encode(), v.encode()) for k, v in refusal_headers(body)]
            await send(
                {"type": "http.response.start", "status": 403, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def without_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        (key, value)
                        for key, value in message.get("headers", ())
                        if not is_cors_header(key.decode("latin-1"))
                    ],
                }
            await send(message)

        await self.app(scope, receive, without_cors)
