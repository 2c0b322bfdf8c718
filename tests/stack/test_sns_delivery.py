"""SNS deliveries to HTTP subscribers never block or fail Publish.

Against a real stack: Publish answers at once whether the subscriber (the
Cellenics API) is down, slow or fine; a failed delivery is retried by the
delivery policy and logged by the engine; filter policies still apply. Against
a plain moto server: moto still delivers inside Publish, so
inframock/engine/sns_delivery.py is still needed.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.parsers
import pytest

from inframock.engine.sns_retries import retry_delays
from inframock.testing.harness import (
    RunningStack,
    free_port,
    standalone_moto,
    wait_until,
)

REGION = "eu-west-1"
AT_ONCE = 2.0
"""Seconds a Publish may take on a loaded machine and still be "at once"."""
FAST_RETRIES = {"numRetries": 30, "minDelayTarget": 1, "maxDelayTarget": 1}
"""Retry every second for half a minute: the tests need not wait 20 s."""

FAILED_PUBLISH = (botocore.exceptions.ClientError, botocore.parsers.ResponseParserError)
"""How boto3 reports moto's HTTP 500 (an HTML page, not an AWS error)."""


class Listener(http.server.ThreadingHTTPServer):
    """A stand-in API on `port` that records notifications, or holds them."""

    def __init__(
        self, port: int = 0, hold: bool = False, statuses: tuple[int, ...] = ()
    ) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses = list(statuses)
        """The status of each answer in turn; 200 once they are used up."""
        self.arrived = threading.Event()
        """Set when a request has arrived (before it is answered)."""
        self.release = threading.Event()
        if not hold:
            self.release.set()
        super().__init__(("127.0.0.1", port), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.release.set()
        self.shutdown()
        self.server_close()

    def has_received(self) -> bool:
        """True once a notification has been received."""
        return bool(self.received)

    def messages(self) -> list[str]:
        """The `Message` of every notification received."""
        return [json.loads(r["body"])["Message"] for r in self.received]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Listener

    def do_POST(self) -> None:  # pylint: disable=invalid-name
        """Record the request; answer 200 once released."""
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.arrived.set()
        self.server.release.wait(30)
        self.server.received.append(
            {"path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        self.send_response(self.server.statuses.pop(0) if self.server.statuses else 200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module", name="stack")
def fixture_stack(shared_stack: RunningStack) -> RunningStack:
    """The shared stack: these tests add topics of their own (deleted after the
    module) and read the engine's log for their own subscribers' URLs."""
    return shared_stack


def subscribed_topic(
    sns: Any, name: str, url: str, retries: dict[str, Any] | None = None
) -> tuple[str, str]:
    """A new topic with `url` subscribed; retried by `retries` (topic policy)."""
    topic = sns.create_topic(Name=name)["TopicArn"]
    if retries is not None:
        sns.set_topic_attributes(
            TopicArn=topic,
            AttributeName="DeliveryPolicy",
            AttributeValue=json.dumps({"http": {"defaultHealthyRetryPolicy": retries}}),
        )
    # AWS (and MiniStack) answer "pending confirmation" for an HTTP
    # subscription without ReturnSubscriptionArn; moto answers its ARN.
    subscription = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=url, ReturnSubscriptionArn=True
    )
    return topic, subscription["SubscriptionArn"]


def timed_publish(sns: Any, topic: str, message: str, **extra: Any) -> float:
    """Seconds one Publish took; it must succeed."""
    started = time.monotonic()
    response = sns.publish(TopicArn=topic, Message=message, **extra)
    took = time.monotonic() - started
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    return took


def test_publish_with_the_subscriber_down_returns_at_once_and_delivers_later(
    stack: RunningStack,
) -> None:
    sns = stack.client("sns")
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/workResults"
    topic, _ = subscribed_topic(sns, "api-down", url, FAST_RETRIES)
    assert timed_publish(sns, topic, "while the API is down") < AT_ONCE
    wait_until(
        lambda: "to " + url + " failed (ConnectionError), attempt 2: retrying in 1 s"
        in stack.output,
        20,
        "the engine to log the second failed attempt",
    )
    listener = Listener(port)  # the API comes up on the same port
    try:
        wait_until(lambda: listener.received, 20, "the delivery once the API is up")
        assert listener.messages() == ["while the API is down"]
        assert listener.received[0]["path"] == "/v1/workResults"
    finally:
        listener.close()
    failures = [line for line in stack.lines if f"to {url} failed" in line]
    assert failures and all("SNS delivery of " in line for line in failures)


def test_a_spent_policy_drops_the_delivery_with_one_line(stack: RunningStack) -> None:
    sns = stack.client("sns")
    url = f"http://127.0.0.1:{free_port()}/v1/dropped"
    topic, subscription = subscribed_topic(sns, "api-gone", url)
    # The subscription's own policy overrides the topic's (AWS's default here).
    sns.set_subscription_attributes(
        SubscriptionArn=subscription,
        AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps(
            {"healthyRetryPolicy": {**FAST_RETRIES, "numRetries": 1}}
        ),
    )
    assert timed_publish(sns, topic, "never delivered") < AT_ONCE
    wait_until(
        lambda: f"to {url} failed (ConnectionError), attempt 2: dropped"
        in stack.output,
        20,
        "the engine to drop the delivery",
    )
    lines = [line for line in stack.lines if f"to {url} failed" in line]
    assert len(lines) == 2 and "attempt 1: retrying in 1 s" in lines[0]


def test_a_5xx_is_retried_and_a_4xx_is_final(stack: RunningStack) -> None:
    sns = stack.client("sns")
    for status, attempts in ((503, 2), (404, 1)):
        listener = Listener(statuses=(status,))
        url = f"{listener.url}/v1/{status}"
        try:
            topic, _ = subscribed_topic(sns, f"api-{status}", url, FAST_RETRIES)
            timed_publish(sns, topic, f"answered {status}")
            wait_until(
                lambda u=url: f"to {u} failed (HTTP " in stack.output,
                20,
                f"the engine to log the {status}",
            )
            wait_until(
                lambda l=listener, n=attempts: len(l.received) == n,
                20,
                f"{attempts} attempts",
            )
        finally:
            listener.close()
        lines = [line for line in stack.lines if f"to {url} failed" in line]
        assert len(lines) == 1, lines
        ending = "retrying in 1 s" if status == 503 else "refused by the subscriber"
        assert f"(HTTP {status}), attempt 1: {ending}" in lines[0]


def test_a_slow_subscriber_does_not_delay_publish(stack: RunningStack) -> None:
    sns = stack.client("sns")
    listener = Listener(hold=True)
    try:
        topic, _ = subscribed_topic(sns, "api-slow", f"{listener.url}/v1/slow")
        took = [timed_publish(sns, topic, f"slow {i}") for i in range(3)]
        assert listener.arrived.wait(10), "no delivery reached the subscriber"
        assert max(took) < AT_ONCE and not listener.received
        listener.release.set()
        wait_until(lambda: len(listener.received) == 3, 20, "three deliveries")
        assert sorted(listener.messages()) == ["slow 0", "slow 1", "slow 2"]
    finally:
        listener.close()


def test_filter_policies_still_apply(stack: RunningStack) -> None:
    sns = stack.client("sns")
    listener = Listener()
    try:
        topic, subscription = subscribed_topic(
            sns, "api-filtered", f"{listener.url}/v1/gem2s"
        )
        sns.set_subscription_attributes(
            SubscriptionArn=subscription,
            AttributeName="FilterPolicy",
            AttributeValue=json.dumps({"type": ["GEM2SResponse"]}),
        )
        for kind in ("WorkResponse", "GEM2SResponse", "QCResponse", "GEM2SResponse"):
            attributes = {"type": {"DataType": "String", "StringValue": kind}}
            timed_publish(sns, topic, kind, MessageAttributes=attributes)
        wait_until(lambda: len(listener.received) >= 2, 20, "the matching deliveries")
        # Filtered in Publish itself: nothing else was queued behind them.
        assert listener.messages() == ["GEM2SResponse", "GEM2SResponse"]
    finally:
        listener.close()


def test_the_notification_is_the_one_moto_sends(stack: RunningStack) -> None:
    """Same headers and body fields as plain moto's synchronous delivery."""
    seen = []
    for endpoint in (stack.endpoint, None):
        listener = Listener()
        try:
            with (
                standalone_moto() if endpoint is None else contextlib.nullcontext()
            ) as plain:
                sns = _client(endpoint or plain)
                topic, _ = subscribed_topic(sns, "same-bytes", f"{listener.url}/v1/x")
                timed_publish(sns, topic, "compare", Subject="s")
                wait_until(listener.has_received, 20, "the delivery")
        finally:
            listener.close()
        request = listener.received[0]
        headers = {
            k.lower(): v
            for k, v in request["headers"].items()
            if k not in ("Content-Length", "Host")  # the listener's port differs
        }
        seen.append((headers, sorted(json.loads(request["body"]))))
    assert seen[0] == seen[1]
    assert seen[0][0]["content-type"] == "text/plain; charset=UTF-8"


def test_moto_itself_still_delivers_inside_publish() -> None:
    """When this fails, moto answers Publish before delivering: drop the patch
    (inframock/engine/sns_delivery.py and its wiring in engine/server.py)."""
    with standalone_moto() as endpoint:
        sns = _client(endpoint)
        topic = sns.create_topic(Name="moto-sync")["TopicArn"]
        down = f"http://127.0.0.1:{free_port()}/v1/workResults"
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=down)
        with pytest.raises(FAILED_PUBLISH) as failed:
            sns.publish(TopicArn=topic, Message="to nobody")
    assert "500 Internal Server Error" in str(failed.value)


def test_retry_delays_follow_awss_phases() -> None:
    # AWS's default HTTP/S policy: up to three retries, 20 s apart.
    assert retry_delays(None) == [20.0, 20.0, 20.0]
    phases = {
        "numRetries": 6,
        "numNoDelayRetries": 1,
        "numMinDelayRetries": 1,
        "numMaxDelayRetries": 1,
        "minDelayTarget": 4,
        "maxDelayTarget": 10,
        "backoffFunction": "linear",
    }
    assert retry_delays(phases) == [0.0, 4.0, 6.0, 8.0, 10.0, 10.0]
    steep = retry_delays({**phases, "backoffFunction": "exponential"})
    assert steep[:2] == [0.0, 4.0] and steep[2] < 6.0 and steep[-2:] == [10.0, 10.0]
    # The total retry time of an HTTP/S policy is capped at 3,600 s.
    assert (
        retry_delays({"numRetries": 100, "minDelayTarget": 60, "maxDelayTarget": 60})
        == [60.0] * 60
    )


def _client(endpoint: str) -> Any:
    """An SNS client for `endpoint` that does not retry server errors."""
    return boto3.client(
        "sns",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
