"""S3's CORS answered by each bucket's rules on MiniStack, as S3 and moto do.

Plain MiniStack answers every preflight 200 with `Access-Control-Allow-Origin:
*` and every method and header, and adds the same wildcard headers to every S3
answer, whatever the bucket's CORS configuration says (a bucket without one
included, where S3 refuses the preflight with 403). The bucket's rules answer
only under its `AUTH=true`, which also enforces IAM, and inframock's dummy
credentials do not pass that. The Cellenics UI's upload reads the `ETag` its
bucket's rule exposes; `Expose-Headers: *` does not expose it to a page that
sends credentials, and a test of the UI's CORS should fail where S3 would.

Here, in front of MiniStack's app, a request for an existing bucket is
answered by MiniStack's own evaluation of that bucket's rules, the code its
`AUTH=true` runs (`s3.cors_preflight`, `s3.cors_response_headers`): a
preflight gets the rule's answer or S3's 403, any other request loses the
wildcard headers and gets those of the rule that allows its Origin, if any.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from inframock.engine.guard import is_cors_header
from inframock.engine.ministack.guard import App, Message, Receive, Scope, Send


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers, lower-cased, as MiniStack's app reads them."""
    return {
        key.decode("latin-1").lower(): value.decode("latin-1")
        for key, value in scope.get("headers", ())
    }


class S3Cors:
    """ASGI middleware: S3 requests get their bucket's CORS answer."""

    def __init__(self, app: App) -> None:
        self.app = app

    def _bucket(self, scope: Scope, headers: dict[str, str]) -> Any:
        """`(bucket, key)` of an S3 request for an existing bucket, else None."""
        # pylint: disable-next=import-outside-toplevel,import-error
        from ministack import app as ministack

        method, path = scope.get("method", ""), scope.get("path", "")
        # First the bucket lookup (a dict), then, only for a path naming an
        # existing bucket, MiniStack's routing: no parse on every request.
        # pylint: disable-next=protected-access
        target = ministack._s3_cors_target(headers.get("host", ""), path)
        if target is None:
            return None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if ministack.detect_service(method, path, headers, query) != "s3":
            return None
        return target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope) if scope.get("type") == "http" else {}
        target = self._bucket(scope, headers) if headers else None
        if target is None:
            await self.app(scope, receive, send)
            return
        # pylint: disable-next=import-outside-toplevel,import-error
        from ministack.services import s3

        method = scope.get("method", "")
        if method == "OPTIONS":
            status, answer, body = s3.cors_preflight(*target, headers)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": _encoded({**answer, "Content-Length": str(len(body))}),
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        ruled = s3.cors_response_headers(target[0], method, headers)

        async def by_the_rule(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (key, value)
                    for key, value in message.get("headers", ())
                    if not is_cors_header(key.decode("latin-1"))
                ]
                message = {**message, "headers": kept + _encoded(ruled)}
            await send(message)

        await self.app(scope, receive, by_the_rule)


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [
        (key.encode("latin-1"), value.encode("latin-1"))
        for key, value in headers.items()
    ]
