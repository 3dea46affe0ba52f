"""Lambda's SQS event source mapping, played locally: receive, build the event, invoke, delete.

As AWS does with ``ReportBatchItemFailures``: the messages the function names in
``batchItemFailures`` stay on the queue (they come back after the visibility timeout, and the
queue's redrive policy moves them to its dead-letter queue after a few receives); the others are
deleted. An invocation that raises deletes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.aws import REGION
from local.lambda_context import LocalLambdaContext

Invoke = Callable[[dict[str, Any], Any], Any]
MAX_BATCH = 10  # SQS hands out at most 10 messages per receive


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends for ``messages`` (as ReceiveMessage gave them)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 (SQS's own digest)
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


@dataclass
class PollResult:
    received: list[str] = field(default_factory=list)  # message ids
    failed: list[str] = field(default_factory=list)  # message ids left on the queue
    response: Any = None


def queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def poll_once(
    sqs: Any,
    queue_url: str,
    invoke: Invoke,
    *,
    batch_size: int = MAX_BATCH,
    wait_seconds: int = 0,
    timeout_seconds: float = 300.0,
    arn: str | None = None,
) -> PollResult:
    """One receive and, if it got messages, one invocation; delete what the function did not fail."""
    answer = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=min(batch_size, MAX_BATCH),
        WaitTimeSeconds=wait_seconds,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    messages = answer.get("Messages", [])
    result = PollResult(received=[m["MessageId"] for m in messages])
    if not messages:
        return result
    event = sqs_event(messages, arn or queue_arn(sqs, queue_url))
    try:
        result.response = invoke(event, LocalLambdaContext(timeout_seconds=timeout_seconds))
    except Exception:
        traceback.print_exc(file=sys.stderr)
        result.failed = list(result.received)
        return result
    failures = (result.response or {}).get("batchItemFailures", [])
    result.failed = [str(item["itemIdentifier"]) for item in failures]
    done = [m for m in messages if m["MessageId"] not in result.failed]
    if done:
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
        )
    return result


class SqsPoller:
    """Polls in a thread until ``stop()``, as the event source mapping would, one batch at a time."""

    def __init__(self, sqs: Any, queue_url: str, invoke: Invoke, *, timeout_seconds: float = 300.0) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._invoke = invoke
        self._timeout = timeout_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-poller", daemon=True)

    def start(self) -> SqsPoller:
        self._thread.start()
        return self

    def _run(self) -> None:
        arn = queue_arn(self._sqs, self._queue_url)
        while not self._stopping.is_set():
            try:
                poll_once(
                    self._sqs,
                    self._queue_url,
                    self._invoke,
                    wait_seconds=1,
                    timeout_seconds=self._timeout,
                    arn=arn,
                )
            except Exception:
                if self._stopping.is_set():
                    return
                traceback.print_exc(file=sys.stderr)
                self._stopping.wait(1.0)

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=5)
