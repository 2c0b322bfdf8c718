"""SNS deliveries to HTTP/S subscribers retried by the delivery policy.

MiniStack 1.5.33 POSTs each notification to an HTTP/S subscriber once, from a
thread of its own (`_deliver_to_http`), and logs a failure: while the
Cellenics API restarts, a work result is lost, where AWS (and inframock's
moto) retries by the subscription's or the topic's delivery policy. Here
`_deliver_to_http` hands the POST MiniStack makes (its `_http_post_sync`: the
same bytes and headers) to the queue moto's seam uses (`sns_retries`), with
the delays of the policy that applies to the subscription, found by the
notification's topic and the endpoint.
"""

from __future__ import annotations

import json
import socket
import urllib.error
from typing import Any

from inframock.engine.sns_retries import (
    Delivery,
    DeliveryQueue,
    Failure,
    healthy_retry_policy,
    retry_delays,
)


def _attempt(delivery: Delivery) -> Failure | None:
    """Try once with MiniStack's own POST: None when delivered, else the
    failure, named and retried as moto's seam names and retries it."""
    # pylint: disable-next=import-outside-toplevel,import-error
    from ministack.services import sns

    try:
        # pylint: disable-next=protected-access
        sns._http_post_sync(delivery.url, delivery.kwargs["payload"], "Notification")
    except urllib.error.HTTPError as err:
        retry = err.code >= 500 or err.code == 429
        return Failure(f"HTTP {err.code}", retry=retry)
    except (TimeoutError, socket.timeout):
        return Failure("Timeout")
    except (urllib.error.URLError, OSError):
        return Failure("ConnectionError")
    return None


QUEUE = DeliveryQueue(_attempt)
"""Every HTTP/S delivery of the engine, due now or after a retry delay."""


def _policy(topic_arn: str, endpoint: str) -> dict[str, Any] | None:
    """The retry policy of the topic's subscription of `endpoint`, if set."""
    # pylint: disable-next=import-outside-toplevel,import-error
    from ministack.services import sns

    topic = sns._topic_by_arn_any_scope(topic_arn)  # pylint: disable=protected-access
    if topic is None:
        return None
    subscription = next(
        (
            sub
            for sub in topic["subscriptions"]
            if sub.get("endpoint") == endpoint
            and sub.get("protocol") in ("http", "https")
        ),
        {"attributes": {}},
    )
    return healthy_retry_policy(
        subscription["attributes"].get("DeliveryPolicy"),
        topic["attributes"].get("DeliveryPolicy"),
    )


def _envelope(payload: str) -> dict[str, Any]:
    """The notification's JSON envelope; {} for a raw message delivery."""
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def deliver_later(endpoint: str, payload: str) -> None:
    """Stands in for MiniStack's `_deliver_to_http`: queued, retried."""
    envelope = _envelope(payload)
    QUEUE.put(
        Delivery(
            url=endpoint,
            kwargs={"payload": payload},
            delays=retry_delays(_policy(str(envelope.get("TopicArn", "")), endpoint)),
            message_id=str(envelope.get("MessageId", "?")),
        )
    )
