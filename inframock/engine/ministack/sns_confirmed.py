"""HTTP/S subscriptions that deliver without being confirmed.

MiniStack, as AWS, sends an HTTP/S subscriber a `SubscriptionConfirmation`
and delivers nothing until its SubscribeURL is visited. The Cellenics API in
development never confirms (iac subscribes it, and moto delivers at once), so
on plain MiniStack no work result would ever reach it. Here the subscription
is confirmed as it is made, and no confirmation request is sent; Subscribe
answers its ARN, as for any subscription that needs no confirmation (plain
MiniStack answers "pending confirmation", even to ReturnSubscriptionArn).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

PENDING = b"<SubscriptionArn>pending confirmation</SubscriptionArn>"


async def confirm_at_once(topic_arn: str, sub: dict[str, Any]) -> None:
    """Stands in for MiniStack's `_send_subscription_confirmation`."""
    # pylint: disable-next=import-outside-toplevel,import-error
    from ministack.services import sns

    sub["confirmed"] = True
    sub["token"] = None
    sub["attributes"]["PendingConfirmation"] = "false"
    sub["attributes"]["ConfirmationWasAuthenticated"] = "true"
    topic = sns._topic_by_arn_any_scope(topic_arn)  # pylint: disable=protected-access
    if topic is not None:
        sns._refresh_subscription_counts(topic)  # pylint: disable=protected-access


def answer_its_arn(subscribe: Callable[..., Any]) -> Callable[..., Any]:
    """MiniStack's `_subscribe`, answering the new subscription's ARN."""

    @functools.wraps(subscribe)
    def subscribed(params: dict[str, Any]) -> Any:
        status, headers, body = subscribe(params)
        if status != 200 or PENDING not in body:
            return status, headers, body
        # pylint: disable-next=import-outside-toplevel,import-error
        from ministack.services import sns

        # pylint: disable-next=protected-access
        topic = sns._topic_by_arn_any_scope(sns._p(params, "TopicArn"))
        made = [
            sub["arn"]
            for sub in (topic or {}).get("subscriptions", [])
            if sub.get("endpoint")
            == sns._p(params, "Endpoint")  # pylint: disable=protected-access
            and sub.get("protocol")
            == sns._p(params, "Protocol")  # pylint: disable=protected-access
        ]
        if not made:
            return status, headers, body
        arn = f"<SubscriptionArn>{made[0]}</SubscriptionArn>".encode()
        return status, headers, body.replace(PENDING, arn)

    return subscribed
