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
stand-in which subscription is delivering, for its delivery policy (the
queue and AWS's retry rules are `sns_retries`', which MiniStack's seam shares).
tests/stack/test_sns_delivery.py tells when a new moto delivers asynchronously
itself, so this module can go.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable

import requests

from inframock.engine.sns_retries import (
    Delivery,
    DeliveryQueue,
    Failure,
    healthy_retry_policy,
    retry_delays,
)

ATTEMPT_TIMEOUT = 15.0
"""Seconds an attempt may take: AWS gives an HTTP/S endpoint 15 s to answer."""


def retry_policy(subscription: Any) -> dict[str, Any] | None:
    """The healthy retry policy that applies to moto's `subscription`
    (`sns_retries.healthy_retry_policy`)."""
    return healthy_retry_policy(
        subscription.attributes.get("DeliveryPolicy"),
        getattr(subscription.topic, "delivery_policy", ""),
    )


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
    return RequestsStandIn(DeliveryQueue(_outcome), DELIVERING)


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
