"""A SigV2 presigned URL counts as signed on MiniStack, as it does on S3.

The 2021 Cellenics API's `downloadData` signs a GetObject URL with aws-sdk
v2's default for S3, Signature Version 2 (`AWSAccessKeyId`, `Expires`,
`Signature` in the query), with `response-content-disposition` so the
browser saves the matrix under its name. S3 takes the `response-*`
parameters from any signed request; MiniStack 1.5.33 counts only an
Authorization header or a SigV4 query (`X-Amz-Signature`) as signed, and
answers such a URL 400 InvalidRequest ("cannot be used for anonymous GET
requests"). Here a SigV2 query signature counts too.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

SIGV2_QUERY = ("awsaccesskeyid", "signature")
"""The query parameters that make a URL a SigV2 presigned one (lower-cased:
MiniStack's handlers may see them either way)."""


def _given(query: dict[str, Any], name: str) -> bool:
    """`name` is in the query, in any case, with a value (parse_qs gives lists)."""
    values = [v for key, v in query.items() if key.lower() == name]
    value = values[0] if values else None
    return bool(value[0] if isinstance(value, list) and value else value)


def signed_by_sigv2_too(reject: Callable[..., Any]) -> Callable[..., Any]:
    """MiniStack's `_reject_response_overrides_if_unsigned`, passing a SigV2
    presigned URL as the signed request it is."""

    @functools.wraps(reject)
    def checked(
        headers: dict[str, Any], query_params: dict[str, Any], *rest: Any
    ) -> Any:
        if all(_given(query_params, name) for name in SIGV2_QUERY):
            return None
        return reject(headers, query_params, *rest)

    return checked
