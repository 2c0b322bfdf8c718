"""`Expect: 100-continue` answered with one interim response, as AWS does.

moto's server answers it twice; aws-sdk v2 for Node then writes the body twice
and fails (`write after end`). tests/stack/test_expect_continue.py tells when a new
moto or werkzeug no longer needs this.
"""

from __future__ import annotations

from moto.moto_server.werkzeug_app import MotoRequestHandler


class SingleContinueHandler(MotoRequestHandler):
    """moto's request handler, sending one `100 Continue` instead of two.

    `http.server.BaseHTTPRequestHandler.parse_request` answers an HTTP/1.1
    `Expect: 100-continue` through `handle_expect_100`, and werkzeug's
    `WSGIRequestHandler.run_wsgi` then writes its own `HTTP/1.1 100 Continue`
    for the same request (werkzeug 3.1; upstream moto issue 5432). aws-sdk v2
    for Node, which expects continue for S3 bodies of 1 MB and more, writes the
    body once per interim response and fails with `write after end`
    (aws-sdk-js issue 3404); it also needs one: without it the body is never
    sent. werkzeug's line is kept: it is sent for every request that expects
    it, just before the app reads the body.
    """

    def handle_expect_100(self) -> bool:
        """Accept the request; `run_wsgi` sends the one interim response."""
        return True
