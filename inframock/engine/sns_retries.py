"""SNS's delivery policy for HTTP/S subscribers, whichever engine delivers.

AWS accepts a Publish at once and delivers to each HTTP/S subscriber
afterwards, retrying a failed delivery by the subscription's or the topic's
delivery policy; a delivery that fails for good is dropped with nothing said
to the publisher. Neither engine does: moto posts inside Publish and never
retries (`sns_delivery`), MiniStack posts once from a thread
(`ministack/sns_delivery`). Both hand their POST to the `DeliveryQueue` here,
which runs the attempts and the retries by AWS's rules (`retry_delays`).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

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


def policy_json(text: Any) -> dict[str, Any]:
    """A JSON policy attribute as a dict; {} when unset or not JSON."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def healthy_retry_policy(own: Any, topic: Any) -> dict[str, Any] | None:
    """The healthy retry policy that applies to a subscription, if one is set.

    `own` and `topic` are the subscription's and the topic's DeliveryPolicy
    (JSON text or a dict). The subscription's own policy wins unless the
    topic's disableSubscriptionOverrides; then the topic's `http` default;
    else None (AWS's default policy).
    """
    topic_http = policy_json(topic).get("http", {})
    own_policy = policy_json(own).get("healthyRetryPolicy")
    if own_policy and not topic_http.get("disableSubscriptionOverrides"):
        return dict(own_policy)
    topic_default = topic_http.get("defaultHealthyRetryPolicy")
    return dict(topic_default) if topic_default else None


@dataclasses.dataclass
class Delivery:
    """One notification on its way to one subscriber."""

    url: str
    kwargs: dict[str, Any]
    """What the engine's own POST takes besides the URL."""
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


class DeliveryQueue:
    """Deliveries due now or later; attempts run on a pool of threads.

    One scheduler thread hands due deliveries to the pool; a failed attempt
    goes back into the queue with its next delay, or is dropped with a log
    line once its policy is spent. Nothing is dropped otherwise while the
    engine runs.
    """

    def __init__(self, attempt: Callable[[Delivery], Failure | None]) -> None:
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
