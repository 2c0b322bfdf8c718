"""HTTP/S subscriptions that deliver without being confirmed.

MiniStack, as AWS, sends an HTTP/S subscriber a `SubscriptionConfirmation`
and delivers nothing until its SubscribeURL is visited. The Cellenics API in
development never confirms (iac subscribes it, and moto delivers at once), so
on plain MiniStack no work result would ever reach it. Here the subscription
is confirmed as it is made, and no confirmation request is sent.
"""

from __future__ import annotations

from typing import Any


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
