"""`Expect: 100-continue` over a raw socket: one interim `100 Continue`, not two.

aws-sdk v2 for Node (the Cellenics API's) sends S3 bodies of 1 MB and more
after a `100 Continue`, and writes the body once per interim response it gets:
two of them end in `NetworkingError: write after end`. These tests count the
interim responses byte by byte, on the stack and on a plain moto server.
"""

from __future__ import annotations

import dataclasses
import socket

import boto3

from inframock.testing.harness import RunningStack, standalone_moto
from inframock.testing.datafolder import payload

BODY = payload(1_300_000, seed=100)
"""As big as the cell sets the API uploads with `Expect: 100-continue`."""

CONTINUE = b"HTTP/1.1 100 Continue"


@dataclasses.dataclass
class Exchange:
    """What the server answered to one PUT that expected continue."""

    interim: list[bytes]
    """The status line of every 1xx response, in order."""
    final: bytes
    """The status line of the final response."""


def _split_responses(data: bytes) -> Exchange:
    """The interim status lines and the final one of everything received."""
    interim = []
    while True:
        head, separator, data = data.partition(b"\r\n\r\n")
        assert separator, f"no complete response in {head[:200]!r}"
        status_line = head.split(b"\r\n", 1)[0]
        if not status_line.split(b" ")[1].startswith(b"1"):
            return Exchange(interim, status_line)
        interim.append(status_line)


def put_expecting_continue(port: int, path: str, body: bytes) -> Exchange:
    """PUT `body` to `path` as aws-sdk v2 does: headers, wait for continue, body.

    A server may also answer no interim response at all: after 5 s without
    one the body goes anyway, as HTTP clients do.
    """
    credential = "test/20260101/eu-west-1/s3/aws4_request"
    head = (
        f"PUT {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={credential}, "
        "SignedHeaders=host, Signature=0\r\n"
        "Connection: close\r\n\r\n"
    )
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode())
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        sock.settimeout(30)
        sock.sendall(body)
        while chunk := sock.recv(65536):
            received += chunk
    return _split_responses(bytes(received))


def test_a_put_expecting_continue_gets_one_interim_response_and_stores_the_body(
    session_stack: RunningStack,
) -> None:
    key = "expect-continue-raw"
    exchange = put_expecting_continue(
        session_stack.aws_port, f"/cell-sets-development/{key}", BODY
    )
    # Exactly one: aws-sdk v2 writes the body on each `continue` event and,
    # with none, waits for one until its 120 s timeout.
    assert exchange.interim == [CONTINUE], exchange
    assert exchange.final == b"HTTP/1.1 200 OK", exchange
    stored = session_stack.client("s3").get_object(
        Bucket="cell-sets-development", Key=key
    )["Body"]
    assert stored.read() == BODY


def test_plain_moto_server_still_sends_two_interim_responses() -> None:
    """The upstream bug `inframock.engine.continue_once` works around.

    A plain `python -m moto.server` (moto issue 5432) answers
    `Expect: 100-continue` twice: http.server's `handle_expect_100` and
    werkzeug's `run_wsgi` both write `100 Continue`. When this test fails
    after a moto or werkzeug upgrade, the engine sends at most one by itself:
    remove `SingleContinueHandler` and this test.
    """
    with standalone_moto() as endpoint:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="eu-west-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(
            Bucket="upstream",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
        port = int(endpoint.rsplit(":", 1)[1])
        exchange = put_expecting_continue(port, "/upstream/key", BODY)
    assert exchange.interim == [CONTINUE, CONTINUE], exchange
    assert exchange.final == b"HTTP/1.1 200 OK", exchange
