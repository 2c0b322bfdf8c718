"""SQS in a snapshot: every queue's attributes and tags, and its waiting messages.

Messages are read without being consumed: each is received with a visibility
timeout, recorded (body, message attributes and, for FIFO queues, its group
and deduplication ids), and made visible again at once, so the stack goes on
as if nothing had happened, except that each message's receive count has
grown by one. Restoring sends them again in the order they were received,
which keeps every FIFO group's order.

SQS hands out at most 10 messages of one FIFO group until they are deleted or
visible again, so a group holding more cannot be read whole without consuming
it; the snapshot then says how many it missed, as it does for messages that
were in flight or delayed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inframock.core import console
from inframock.aws.listings import queue_urls
from inframock.features.snapshot.format import (
    Connection,
    JsonLines,
    SnapshotError,
    batched,
    checked_base64,
    checked_index,
    checked_lines,
    from_text,
    part_file,
    read_json,
    read_lines,
    require,
    to_text,
    write_json,
)

INDEX = "queues.json"
HOLD_SECONDS = 300
"""How long received messages stay invisible if the snapshot dies before it
makes them visible again."""
READ_ONLY = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "QueueArn",
    }
)


def save(conn: Connection, folder: Path) -> dict[str, int]:
    """Write every queue's settings and waiting messages under `folder`."""
    sqs = conn.clients.sqs
    queues, messages = [], 0
    for url in queue_urls(conn.clients):
        name = url.rstrip("/").rsplit("/", 1)[1]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        with JsonLines(folder / f"{name}.jsonl") as out:
            _save_messages(conn, url, out)
        _warn_if_incomplete(name, attributes, out.count)
        messages += out.count
        queues.append(
            {
                "name": name,
                "attributes": {
                    k: v for k, v in attributes.items() if k not in READ_ONLY
                },
                "tags": sqs.list_queue_tags(QueueUrl=url).get("Tags", {}),
                "messages": out.count,
            }
        )
    write_json(folder / INDEX, queues)
    return {"queue": len(queues), "message": messages}


def _save_messages(conn: Connection, url: str, out: JsonLines) -> None:
    """Receive every waiting message, record it, and make them all visible again."""
    sqs = conn.clients.sqs
    handles: list[str] = []
    try:
        while True:
            received = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=HOLD_SECONDS,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                return
            for message in received:
                handles.append(message["ReceiptHandle"])
                out.write(_record(message))
    finally:
        for batch in batched(enumerate(handles), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for i, h in batch
                ],
            )


def _record(message: dict[str, Any]) -> dict[str, Any]:
    system = message.get("Attributes", {})
    return {
        "body": message["Body"],
        "attributes": {
            name: _attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "group_id": system.get("MessageGroupId"),
        "deduplication_id": system.get("MessageDeduplicationId"),
    }


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as JSON (binary values as base64 text)."""
    kept = {"DataType": value["DataType"]}
    if "StringValue" in value:
        kept["StringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        kept["BinaryValue"] = to_text(value["BinaryValue"])
    return kept


def _warn_if_incomplete(name: str, attributes: dict[str, str], saved: int) -> None:
    waiting = int(attributes.get("ApproximateNumberOfMessages", 0))
    in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    delayed = int(attributes.get("ApproximateNumberOfMessagesDelayed", 0))
    if saved < waiting:
        console.warn(
            f"queue {name}: saved {saved} of {waiting} waiting messages (SQS gives "
            "at most 10 messages of a FIFO group until they are deleted)"
        )
    if in_flight or delayed:
        console.warn(
            f"queue {name}: {in_flight} messages in flight and {delayed} delayed "
            "cannot be read, and are not in the snapshot"
        )


def wipe(conn: Connection) -> None:
    """Delete every queue of the stack."""
    for url in queue_urls(conn.clients):
        conn.clients.sqs.delete_queue(QueueUrl=url)


def check(folder: Path) -> None:
    """SnapshotError, naming file and line, for anything `restore` could not use."""
    for number, queue in enumerate(checked_index(folder, INDEX)):
        where = f"{folder.name}/{INDEX} queue {number}"
        require(queue, where, name=str, attributes=dict, tags=dict)
        for line, message in checked_lines(folder, f"{queue['name']}.jsonl"):
            optional = (str, type(None))
            require(message, line, body=str, attributes=dict)
            require(message, line, group_id=optional, deduplication_id=optional)
            for value in message["attributes"].values():
                require(value, line, DataType=str)
                if "BinaryValue" in value:
                    checked_base64(value["BinaryValue"], line)


def restore(conn: Connection, folder: Path) -> None:
    """Create the saved queues, then send their messages again in order."""
    sqs = conn.clients.sqs
    queues = read_json(part_file(folder, INDEX))
    urls = {}
    for queue in queues:  # redrive targets may come later: policies once all exist
        attributes = dict(queue["attributes"])
        attributes.pop("RedrivePolicy", None)
        options = {"tags": queue["tags"]} if queue["tags"] else {}
        urls[queue["name"]] = sqs.create_queue(
            QueueName=queue["name"], Attributes=attributes, **options
        )["QueueUrl"]
    for queue in queues:
        url = urls[queue["name"]]
        if "RedrivePolicy" in queue["attributes"]:
            sqs.set_queue_attributes(
                QueueUrl=url,
                Attributes={"RedrivePolicy": queue["attributes"]["RedrivePolicy"]},
            )
        lines = read_lines(part_file(folder, f"{queue['name']}.jsonl"))
        for batch in batched(lines, 10):
            sent = sqs.send_message_batch(
                QueueUrl=url, Entries=[_entry(i, m) for i, m in enumerate(batch)]
            )
            if sent.get("Failed"):
                failed = sent["Failed"][0]
                raise SnapshotError(f"queue {queue['name']}: {failed['Message']}")


def _entry(number: int, message: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(number), "MessageBody": message["body"]}
    if message["attributes"]:
        entry["MessageAttributes"] = {
            name: (
                {**value, "BinaryValue": from_text(value["BinaryValue"])}
                if "BinaryValue" in value
                else value
            )
            for name, value in message["attributes"].items()
        }
    if message["group_id"] is not None:
        entry["MessageGroupId"] = message["group_id"]
    if message["deduplication_id"] is not None:
        entry["MessageDeduplicationId"] = message["deduplication_id"]
    return entry
