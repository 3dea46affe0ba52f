"""``make run``'s archive: an embedded bucket and job queue, and the poller that plays the worker.

In the demo, the function runs with the archive on, as a deployed stack does by default: a request
answered from the aggregator puts a job on the queue; the poller (``local.sqs_poller``) hands it to
the same ``handler.lambda_handler`` as Lambda's SQS event source would, one invocation at a time with
the local API's (a container never runs two at once); the copy lands in the embedded S3, and from
then on the task's link points there. The ready lines say how to rotate the simulator's accounts
(its tasks answer 404, its old links 403) and watch the link keep playing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from local.aggregator import ROTATE_PATH, Aggregator
from local.aws import EmbeddedAws
from local.lambda_context import LocalLambdaContext
from local.sqs_poller import SqsPoller

ARCHIVE_BUCKET: Final = "luma-demo-archive"
ARCHIVE_QUEUE: Final = "luma-archive-jobs"
# A warm container asks the archive again this soon after serving an aggregator link: short, so a
# rotation right after the first request does not serve the dead link for a minute.
DEMO_RECHECK_SECONDS: Final = "5"
WORKER_TIMEOUT_SECONDS: Final = 300.0  # template.yaml: the worker's Timeout

Invoke = Callable[[dict[str, Any], Any], Any]


@dataclass
class ArchiveDemo:
    aws: EmbeddedAws
    aggregator: Aggregator
    bucket: str
    queue_url: str
    poller: SqsPoller | None = field(default=None, repr=False)

    def environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The function's archive variables; ARCHIVE_RECHECK_SECONDS as the user set it, if they did."""
        return {
            "ARCHIVE_BUCKET": self.bucket,
            "ARCHIVE_QUEUE_URL": self.queue_url,
            "ARCHIVE_RECHECK_SECONDS": environ.get("ARCHIVE_RECHECK_SECONDS", DEMO_RECHECK_SECONDS),
        }

    def start_poller(self, invoke: Invoke, invoke_lock: threading.Lock) -> None:
        def invoke_alone(event: dict[str, Any], _: Any) -> Any:
            with invoke_lock:  # the context counts down from when the invocation really starts
                return invoke(event, LocalLambdaContext(timeout_seconds=WORKER_TIMEOUT_SECONDS))

        self.poller = SqsPoller(self.aws.client("sqs"), self.queue_url, invoke_alone).start()

    def ready_lines(self) -> list[str]:
        rotate = f"curl -X POST {self.aggregator.base_url}{ROTATE_PATH}"
        return [
            f"Archive on: copies go to s3://{self.bucket}/luma/ (embedded S3); a local poller plays the "
            "SQS event source",
            f"Simulate the aggregator's account rotation (tasks 404, old links 403): {rotate}",
            "  then open the completed task again: its link keeps playing, from the archive",
        ]

    def stop(self) -> None:
        if self.poller is not None:
            with contextlib.suppress(Exception):
                self.poller.stop()


def start_archive_demo(aws: EmbeddedAws, aggregator: Aggregator) -> ArchiveDemo:
    """Create the bucket and the queue (with its dead-letter queue) in the embedded AWS."""
    bucket = aws.create_bucket(ARCHIVE_BUCKET)
    queue_url = aws.create_queue(ARCHIVE_QUEUE)
    return ArchiveDemo(aws, aggregator, bucket, queue_url)
