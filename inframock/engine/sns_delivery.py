"""SNS deliveries to HTTP/S subscribers: asynchronous and retried, as AWS does.

moto 5.2.5 POSTs each notification to an http/https subscriber inside Publish
(`Subscription.publish` calls `requests.post` in `moto/sns/models.py`), with no
timeout and no retry: while the subscriber (the Cellenics API) is down,
Publish answers HTTP 500 and the worker's turn crashes; while it is slow,
Publish waits for it. AWS accepts the Publish at once and delivers afterwards,
retrying failed deliveries by the subscription's or topic's delivery policy;
a delivery that fails for good is dropped, never an error to the publisher.

The seam is the narrowest one: the `requests` name inside `moto.sns.models`
is replaced by a stand-in whose `post` queues the very call moto makes (same
URL, `json=` body and headers, so the same bytes on the wire) and returns.
Everything else moto does in Publish (filter policies, message structure, the
signed body) is untouched. A wrapper around `Subscription.publish` tells the
stand-in which subscription is delivering, for its delivery policy.
tests/stack/test_sns_delivery.py tells when a new moto delivers asynchronously
itself, so this module can go.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import json
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import requests

ATTEMPT_TIMEOUT = 15.0
"""Seconds an attempt may take: AWS gives an HTTP/S endpoint 15 s to answer."""

WORKERS = 16
"""Attempts in flight at once: one slow subscriber never holds up the others."""

DEFAULT_RETRY_POLICY: dict[str, Any] = {
    "numRetries": 3,
    "numNoDelayRetries": 0,
    "numMinDelayRetries": 0,
    "numMaxDelayRetries": 0,
    "minDelayTarget": 20,
    "maxDelayTarget": 20,
    "backoffFunction": "linear",
}
"""AWS's default HTTP/S policy: "up to three retries with a delay between
failed attempts set at 20 seconds" (SNS developer guide), as moto reports in
EffectiveDeliveryPolicy."""

MAX_RETRY_SECONDS = 3600.0
"""AWS: the total retry time of an HTTP/S policy cannot exceed 3,600 s."""

BACKOFF: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "arithmetic": lambda t: t * t,
    "geometric": lambda t: t**3,
    "exponential": lambda t: (math.exp(5 * t) - 1) / (math.exp(5) - 1),
}
"""Share of the way from minDelayTarget to maxDelayTarget at step share t.

AWS publishes only a graph of its four backoff functions; these have its
order (linear fastest at first, exponential slowest) and its end points.
"""


def retry_delays(policy: dict[str, Any] | None) -> list[float]:
    """The delay before each retry of a failed delivery, in seconds.

    AWS's phases in order: immediate retries, pre-backoff retries at the
    minimum delay, backoff retries from minimum to maximum, post-backoff
    retries at the maximum; the total is capped at 3,600 s.
    """
    merged = {**DEFAULT_RETRY_POLICY, **(policy or {})}
    retries = int(merged["numRetries"])
    low, high = float(merged["minDelayTarget"]), float(merged["maxDelayTarget"])
    immediate = int(merged["numNoDelayRetries"])
    pre = int(merged["numMinDelayRetries"])
    post = int(merged["numMaxDelayRetries"])
    backoff = max(0, retries - immediate - pre - post)
    share = BACKOFF.get(str(merged["backoffFunction"]).lower(), BACKOFF["linear"])
    delays = [0.0] * immediate + [low] * pre
    delays += [low + (high - low) * share(i / backoff) for i in range(1, backoff + 1)]
    delays = (delays + [high] * post)[:retries]
    capped, total = [], 0.0
    for delay in delays:
        total += delay
        if total > MAX_RETRY_SECONDS:
            break
        capped.append(delay)
    return capped


def _loads(text: Any) -> dict[str, Any]:
    """A JSON policy attribute as a dict; {} when unset or not JSON."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def retry_policy(subscription: Any) -> dict[str, Any] | None:
    """The healthy retry policy that applies to `subscription`, if one is set.

    The subscription's own DeliveryPolicy wins unless the topic's
    disableSubscriptionOverrides; then the topic's `http` default; else None
    (AWS's default policy).
    """
    topic_http = _loads(getattr(subscription.topic, "delivery_policy", "")).get(
        "http", {}
    )
    own = _loads(subscription.attributes.get("DeliveryPolicy")).get(
        "healthyRetryPolicy"
    )
    if own and not topic_http.get("disableSubscriptionOverrides"):
        return dict(own)
    topic_default = topic_http.get("defaultHealthyRetryPolicy")
    return dict(topic_default) if topic_default else None


@dataclasses.dataclass
class Delivery:
    """One notification on its way to one subscriber."""

    url: str
    kwargs: dict[str, Any]
    """What moto passed to `requests.post` besides the URL."""
    delays: list[float]
    """Delays before the retries still left."""
    message_id: str
    attempt: int = 0


def log(line: str) -> None:
    """One line on the engine's stderr (the stack relays it to its log)."""
    print(line, file=sys.stderr, flush=True)


@dataclasses.dataclass
class Failure:
    """Why an attempt failed, and whether another attempt may succeed."""

    reason: str
    retry: bool = True


def _outcome(delivery: Delivery) -> Failure | None:
    """Try once: None when delivered (2xx/3xx), else the failure.

    A connection error, a timeout, 5xx and 429 are retried, as AWS does with
    server-side errors; any other 4xx is the subscriber refusing it: final.
    """
    try:
        response = requests.post(
            delivery.url, timeout=ATTEMPT_TIMEOUT, **delivery.kwargs
        )
    except requests.RequestException as err:
        return Failure(type(err).__name__)
    status = response.status_code
    if status >= 500 or status == 429:
        return Failure(f"HTTP {status}")
    if status >= 400:
        return Failure(f"HTTP {status}", retry=False)
    return None


class DeliveryQueue:
    """Deliveries due now or later; attempts run on a pool of threads.

    One scheduler thread hands due deliveries to the pool; a failed attempt
    goes back into the queue with its next delay, or is dropped with a log
    line once its policy is spent. Nothing is dropped otherwise while the
    engine runs.
    """

    def __init__(
        self, attempt: Callable[[Delivery], Failure | None] = _outcome
    ) -> None:
        self._attempt = attempt
        self._due: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="sns-delivery")
        threading.Thread(
            target=self._schedule, name="sns-schedule", daemon=True
        ).start()

    def put(self, delivery: Delivery, delay: float = 0.0) -> None:
        """Deliver `delivery` after `delay` seconds."""
        with self._ready:
            heapq.heappush(
                self._due, (time.monotonic() + delay, next(self._order), delivery)
            )
            self._ready.notify()

    def _schedule(self) -> None:
        while True:
            with self._ready:
                while not self._due or self._due[0][0] > time.monotonic():
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._ready.wait(wait)
                _, _, delivery = heapq.heappop(self._due)
            self._pool.submit(self._try, delivery)

    def _try(self, delivery: Delivery) -> None:
        delivery.attempt += 1
        failure = self._attempt(delivery)
        if failure is None:
            return
        where = (
            f"SNS delivery of {delivery.message_id} to {delivery.url} "
            f"failed ({failure.reason}), attempt {delivery.attempt}"
        )
        if not failure.retry:
            log(f"{where}: refused by the subscriber, not retried")
            return
        if not delivery.delays:
            log(f"{where}: dropped")
            return
        delay = delivery.delays.pop(0)
        log(f"{where}: retrying in {delay:g} s")
        self.put(delivery, delay)


class _Delivering(threading.local):
    """The subscription whose `publish` runs on this thread, if any."""

    subscription: Any = None


class RequestsStandIn:
    """`requests` as `moto.sns.models` sees it: `post` queues, the rest is real."""

    def __init__(self, deliveries: DeliveryQueue, delivering: _Delivering) -> None:
        self._deliveries = deliveries
        self._delivering = delivering

    def post(self, url: str, **kwargs: Any) -> None:
        """Queue the POST moto would have made now; return at once."""
        subscription = self._delivering.subscription
        body = kwargs.get("json") or {}
        self._deliveries.put(
            Delivery(
                url=url,
                kwargs=kwargs,
                delays=retry_delays(
                    retry_policy(subscription) if subscription else None
                ),
                message_id=str(body.get("MessageId", "?")),
            )
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)


DELIVERING = _Delivering()
"""Which subscription delivers on each thread, for the stand-in's policy."""


def stand_in(moto_requests: Any) -> RequestsStandIn:
    """What `moto.sns.models` sees as `requests` (the engine's patch
    `sns-async-delivery`): deliveries to HTTP/S subscribers queued."""
    if moto_requests is not requests:
        raise RuntimeError(
            "moto.sns.models no longer posts through `requests`: "
            "inframock/engine/sns_delivery.py needs a new seam"
        )
    return RequestsStandIn(DeliveryQueue(), DELIVERING)


def publish_marked(publish: Callable[..., None]) -> Callable[..., None]:
    """moto's `Subscription.publish`, telling the stand-in which subscription
    is delivering."""

    @functools.wraps(publish)
    def marked(self: Any, *args: Any, **kwargs: Any) -> None:
        DELIVERING.subscription = self
        try:
            publish(self, *args, **kwargs)
        finally:
            DELIVERING.subscription = None

    return marked
