"""The result relay: what iac's `sns-endpoint-lambda` does, without Docker.

In AWS the results topic (`work-results-<env>-<sandbox>-v2`) invokes a Lambda
that POSTs each notification to the API. moto cannot run that Lambda without
Docker, and its own HTTP deliveries carry neither the `x-amz-sns-topic-arn`
header the API insists on nor the message attributes. So the topic delivers
to an SQS queue (raw delivery off: the SNS envelope is kept, attributes
included), and this thread in the `make run` process drains it:

- the Lambda event's `Sns` record is rebuilt from the envelope and POSTed as
  `text/plain` JSON to the message's `apiUrl` + the route of its `type`
  attribute, with the four `x-amz-sns-*` headers; an `apiUrl` that is the
  API's development `publicApiUrl` (`https://api.localhost:5000`, which its
  HandleError state writes into a failed pipeline's message) goes to the API
  URL setting instead, where the local API listens; a `reason: BackOff` message
  goes to the API URL setting's `/v2/kubernetesEvents` as JSON, as the Lambda
  sends it;
- Publish never waits: it only enqueues. A delivery that fails (the API down,
  slow or answering an error) stays in the queue, hidden for the retry
  policy's next delay, and is tried again until the policy's retries are
  spent; every failure is logged. Nothing is lost while the stack runs.

On the embedded road it is a thread of `make run`; on the Compose road the
`relay` service runs `serve` (`python -m populate relay`) in the foreground of
its own container, against the `aws` service.
"""

from __future__ import annotations

import json
import math
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from inframock.aws.clients import Clients
from inframock.aws.listings import subscriptions
from inframock.model.profiles import stack_for
from inframock.model.stack import Relay, Stack
from inframock.core.errors import InframockError
from inframock.core import console
from inframock.aws import resources
from inframock.core.settings import Settings

DEVELOPMENT_PUBLIC_API = re.compile(r"https?://api\.localhost(:\d+)?/?")
"""The API's own `publicApiUrl` in development (`https://api.${DOMAIN_NAME}`,
DOMAIN_NAME unset: `localhost:5000`), which its HandleError state puts in a
failed pipeline's message as `apiUrl`; nothing listens there locally."""
POST_TIMEOUT = 8.0
"""Seconds a POST may take: the Lambda's own timeout in iac."""
POLL_SECONDS = 1
"""Long-poll wait per receive: also how soon a stop is noticed."""
DELIVERY_WORKERS = 4
"""Deliveries at once, so one slow answer does not hold up the others."""
STYLE = "green"
"""The colour of `relay` before its log lines."""
QUEUE_WAIT_SECONDS = 600.0
"""How long `serve` waits for provisioning to create the relay's queue (the
Compose `populate` service does it while the relay starts beside it)."""


class Delivery:
    """One message of the relay's queue, and where and how it is POSTed."""

    def __init__(self, envelope: dict[str, Any], subscription_arn: str) -> None:
        self.envelope = envelope
        self.subscription_arn = subscription_arn

    @property
    def sns_record(self) -> dict[str, Any]:
        """The `Records[0].Sns` of the event Lambda gets for this notification."""
        envelope = self.envelope
        return {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope.get("MessageId"),
            "TopicArn": envelope.get("TopicArn"),
            "Subject": envelope.get("Subject"),
            "Message": envelope.get("Message"),
            "Timestamp": envelope.get("Timestamp"),
            "SignatureVersion": envelope.get("SignatureVersion"),
            "Signature": envelope.get("Signature"),
            "SigningCertUrl": envelope.get("SigningCertURL"),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL"),
            "MessageAttributes": envelope.get("MessageAttributes", {}),
        }

    def request(self, relay: Relay, api_url: str) -> urllib.request.Request:
        """The POST the Lambda would make; raises ValueError for one it could not."""
        record = self.sns_record
        message = json.loads(record["Message"] or "null")
        if not isinstance(message, dict):
            raise ValueError("the message is not a JSON object")
        if message.get("reason") == "BackOff":
            return urllib.request.Request(
                f"{api_url}{relay.events_path}",
                data=json.dumps(message).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
        kind = record["MessageAttributes"].get("type", {}).get("Value")
        path = dict(relay.routes).get(kind)
        if path is None:
            raise ValueError(f"no route for message attribute type={kind!r}")
        target = message.get("apiUrl")
        if not isinstance(target, str) or not target:
            raise ValueError("the message has no apiUrl")
        if DEVELOPMENT_PUBLIC_API.fullmatch(target):
            target = api_url  # the local API (BIOMAGE_API_URL), as the UI's is
        return urllib.request.Request(
            f"{target.rstrip('/')}{path}",
            data=json.dumps(record).encode(),
            headers={
                "x-amz-sns-message-id": str(record["MessageId"]),
                "x-amz-sns-message-type": str(record["Type"]),
                "x-amz-sns-subscription-arn": self.subscription_arn,
                "x-amz-sns-topic-arn": str(record["TopicArn"]),
                "Content-Type": "text/plain",
            },
            method="POST",
        )


class ResultRelay:
    """Drains the relay queue of a stack in a thread, until stopped."""

    def __init__(self, settings: Settings, stack: Stack) -> None:
        if stack.topic.relay is None:
            raise ValueError(f"profile {stack.profile} has no result relay")
        self.relay: Relay = stack.topic.relay
        self.stack = stack
        self.api_url = settings.api_url
        self.clients = Clients(settings.aws_endpoint, settings.region)
        self._stop = threading.Event()
        self._delivering = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="relay", daemon=True)
        self._pool = ThreadPoolExecutor(DELIVERY_WORKERS, **console.adopted())
        self._url = ""
        self._subscription = ""

    def start(self) -> "ResultRelay":
        """Drain in the relay's own thread, which first finds the queue and
        subscription (provisioned already): `make run`'s banner does not wait
        for those calls (a tenth of a second, with this relay's clients)."""
        self._thread.start()
        return self

    def wait_for_queue(self, timeout: float) -> bool:
        """Wait until the relay's queue exists (provisioning made it); False if
        `timeout` passes or `stop` is called first."""
        deadline = time.monotonic() + timeout
        said = False
        while not self._stop.is_set():
            try:
                self.clients.sqs.get_queue_url(QueueName=self.relay.queue)
                return True
            except (BotoCoreError, ClientError) as err:
                if time.monotonic() > deadline:
                    _say(f"no queue {self.relay.queue}: {err}")
                    return False
                if not said:
                    _say(
                        f"waiting for {self.relay.queue} at "
                        f"{self.clients.endpoint} (provisioning creates it)",
                    )
                    said = True
            self._stop.wait(POLL_SECONDS)
        return False

    def stopping(self) -> bool:
        """True once `stop` was called."""
        return self._stop.is_set()

    def _subscription_arn(self) -> str:
        """The ARN of the queue's subscription to the topic (a restored snapshot
        makes a new one, so it is looked up again for each batch)."""
        queue_arn = resources.queue_arn(self.clients, self._url)
        return next(
            (
                sub.arn
                for sub in subscriptions(self.clients, self.stack.topic_arn)
                if sub.protocol == "sqs" and sub.endpoint == queue_arn
            ),
            self._subscription,
        )

    def stop_receiving(self) -> None:
        """Ask the relay to stop (safe from a signal handler); `stop` waits."""
        self._stop.set()

    def wait_stopped(self, seconds: float) -> bool:
        """Wait up to `seconds` for a stop request; True once there is one."""
        return self._stop.wait(seconds)

    def stop(self) -> None:
        """Stop receiving; messages not yet delivered stay in the queue.

        Waits for the POSTs in flight (at most POST_TIMEOUT), not for a long
        poll in flight: that would add up to POLL_SECONDS to every stop. What
        such a poll still receives is made visible again at once, or, with
        the engine already gone, after its visibility timeout, as in AWS when
        a consumer dies.
        """
        self._stop.set()
        # pylint: disable-next=consider-using-with  # `with` has no timeout
        if self._delivering.acquire(timeout=POST_TIMEOUT + 2):
            self._delivering.release()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        try:
            self._url = self.clients.sqs.get_queue_url(QueueName=self.relay.queue)[
                "QueueUrl"
            ]
            self._subscription = self._subscription_arn()
        except Exception as err:  # pylint: disable=broad-exception-caught
            _say(f"error: cannot find {self.relay.queue}, nothing is relayed: {err}")
            return
        while not self._stop.is_set():
            try:
                messages = self.clients.sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=POLL_SECONDS,
                    AttributeNames=["ApproximateReceiveCount"],
                ).get("Messages", [])
            except Exception as err:  # pylint: disable=broad-exception-caught
                if self._stop.wait(POLL_SECONDS):
                    return
                _say(f"cannot read {self.relay.queue}: {err}")
                continue
            if messages:
                with self._delivering:
                    if self._stop.is_set():
                        self._release(messages)
                        return
                    self._subscription = self._subscription_arn()
                    list(self._pool.map(self._deliver, messages))

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Make messages received during a stop visible again, undelivered."""
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for n, m in enumerate(messages)
        ]
        try:
            self.clients.sqs.change_message_visibility_batch(
                QueueUrl=self._url, Entries=entries
            )
        except Exception:  # pylint: disable=broad-exception-caught
            pass  # the engine is gone: they come back after their timeout

    def _deliver(self, message: dict[str, Any]) -> None:
        """POST one message; delete it once delivered, else hide it until its retry."""
        receipt = message["ReceiptHandle"]
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
        try:
            delivery = Delivery(json.loads(message["Body"]), self._subscription)
            request = delivery.request(self.relay, self.api_url)
        except (ValueError, KeyError, TypeError) as err:
            _say(f"dropped a message: {err}")
            self._delete(receipt)
            return
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as answer:
                answer.read()
            _say(
                f"{delivery.sns_record['MessageId']} → {request.full_url} "
                f"({answer.status})",
            )
            self._delete(receipt)
            return
        except urllib.error.HTTPError as err:
            why = f"answered {err.code}"
        except (urllib.error.URLError, OSError) as err:
            why = str(getattr(err, "reason", err))
        self._retry_later(receipt, attempt, f"POST {request.full_url}: {why}")

    def _retry_later(self, receipt: str, attempt: int, why: str) -> None:
        delay = self.relay.retry.delay(attempt)
        if delay is None:
            _say(
                f"gave up after {self.relay.retry.retries} retries: {why}",
            )
            self._delete(receipt)
            return
        _say(
            f"{why}; retry {attempt} of {self.relay.retry.retries} in {delay:.1f} s",
        )
        try:
            self.clients.sqs.change_message_visibility(
                QueueUrl=self._url,
                ReceiptHandle=receipt,
                VisibilityTimeout=math.ceil(delay),
            )
        except Exception as err:  # pylint: disable=broad-exception-caught
            _say(f"cannot delay the retry: {err}")

    def _delete(self, receipt: str) -> None:
        try:
            self.clients.sqs.delete_message(QueueUrl=self._url, ReceiptHandle=receipt)
        except Exception as err:  # pylint: disable=broad-exception-caught
            _say(f"cannot delete a delivered message: {err}")


def serve(settings: Settings) -> int:
    """Run the relay in the foreground until SIGTERM or SIGINT: the Compose
    `relay` service's command. Returns the exit status (0 after a signal).

    On a signal it stops receiving and returns once the POSTs in flight are
    done (within a second when none is, at most the 8 s POST timeout, under
    Docker's 10 s stop grace); messages not yet received stay in the queue for
    the next start.
    """
    stack = stack_for(settings)
    if stack.topic.relay is None:
        raise InframockError(
            f"profile {stack.profile} has no result relay: its topic delivers by "
            "itself (INFRAMOCK_PROFILE=current has one)"
        )
    relay = ResultRelay(settings, stack)

    def on_signal(signum: int, _: object) -> None:
        _say(f"{signal.Signals(signum).name}: stopping")
        relay.stop_receiving()

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        if not relay.wait_for_queue(QUEUE_WAIT_SECONDS):
            return 0 if relay.stopping() else 1
        relay.start()
        _say(
            f"relaying {stack.topic.name} through {relay.relay.queue} to the "
            "apiUrl of each message",
        )
        while not relay.stopping():
            relay.wait_stopped(POLL_SECONDS)
        relay.stop()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _say(line: str) -> None:
    """One log line of the relay, as a child service's would be."""
    console.service_line("relay", line, STYLE)
