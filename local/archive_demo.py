"""``make run``'s archive: an embedded bucket and job queue, and the poller that plays the worker.

In the demo, the function runs with the archive on, as a deployed stack does by default: a request
answered from the aggregator puts a job on the queue; the poller (``local.sqs_poller``) hands it to
the same ``handler.lambda_handler`` as Lambda's SQS event source would, one invocation at a time with
the local API's (a container never runs two at once); the copy lands in the embedded S3, and from
then on the task's link points there. The ready lines say how to rotate the simulator's accounts
(its tasks answer 404, its old links 403) and watch the link keep playing.

With ``ARCHIVE_DELIVERY=CloudFront`` the copies play as a stack with ``ArchiveDelivery=CloudFront`` serves
them: through CloudFront-signed links, here to the edge stand-in (``local.edge``) in front of the same
bucket, with a key pair made at start whose private half sits in the embedded Secrets Manager.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from local.aggregator import ROTATE_PATH, Aggregator
from local.aws import EmbeddedAws
from local.edge import Edge, demo_key_pair, start_edge
from local.lambda_context import LocalLambdaContext
from local.sqs_poller import SqsPoller

ARCHIVE_BUCKET: Final = "luma-demo-archive"
ARCHIVE_QUEUE: Final = "luma-archive-jobs"
# A warm container asks the archive again this soon after serving an aggregator link: short, so a
# rotation right after the first request does not serve the dead link for a minute.
DEMO_RECHECK_SECONDS: Final = "5"
WORKER_TIMEOUT_SECONDS: Final = 300.0  # template.yaml: the worker's Timeout
CDN_KEY_SECRET_ID: Final = "luma/archive-cdn-key"  # noqa: S105 (a secret's name)
# ``ARCHIVE_DELIVERY`` (as the stack parameter ``ArchiveDelivery``): how the demo's copies reach viewers.
DELIVERIES: Final = ("S3", "CloudFront")

Invoke = Callable[[dict[str, Any], Any], Any]


@dataclass
class ArchiveDemo:
    aws: EmbeddedAws
    aggregator: Aggregator
    bucket: str
    queue_url: str
    edge: Edge | None = None  # ARCHIVE_DELIVERY=CloudFront: the CloudFront stand-in
    edge_key_id: str = ""
    poller: SqsPoller | None = field(default=None, repr=False)

    def environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The function's archive variables; ARCHIVE_RECHECK_SECONDS as the user set it, if they did."""
        variables = {
            "ARCHIVE_BUCKET": self.bucket,
            "ARCHIVE_QUEUE_URL": self.queue_url,
            "ARCHIVE_RECHECK_SECONDS": environ.get("ARCHIVE_RECHECK_SECONDS", DEMO_RECHECK_SECONDS),
        }
        if self.edge is not None:  # what the template sets on the request path in CloudFront mode
            variables |= {
                "ARCHIVE_CDN_DOMAIN": self.edge.domain,
                "ARCHIVE_CDN_KEY_ID": self.edge_key_id,
                "ARCHIVE_CDN_KEY_SECRET_ID": CDN_KEY_SECRET_ID,
            }
        return variables

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
            *self._edge_lines(),
        ]

    def _edge_lines(self) -> list[str]:
        if self.edge is None:
            return ["Edge delivery: off (ARCHIVE_DELIVERY=CloudFront make run serves copies by signed links)"]
        return [
            f"Edge delivery: CloudFront stand-in {self.edge.base_url} in front of the bucket; copies "
            "play by CloudFront-signed links (ECDSA P-256 key made at start, SHA-256)"
        ]

    def stop(self) -> None:
        if self.poller is not None:
            with contextlib.suppress(Exception):
                self.poller.stop()
        if self.edge is not None:
            with contextlib.suppress(Exception):
                self.edge.stop()


def start_archive_demo(aws: EmbeddedAws, aggregator: Aggregator, *, delivery: str = "S3") -> ArchiveDemo:
    """Create the bucket and the queue (with its dead-letter queue) in the embedded AWS; for
    ``CloudFront`` delivery also a key pair, its private half as a secret, and the edge stand-in."""
    bucket = aws.create_bucket(ARCHIVE_BUCKET)
    queue_url = aws.create_queue(ARCHIVE_QUEUE)
    demo = ArchiveDemo(aws, aggregator, bucket, queue_url)
    if delivery == "CloudFront":
        keys = demo_key_pair("ECDSA")
        aws.client("secretsmanager").create_secret(Name=CDN_KEY_SECRET_ID, SecretString=keys.private_pem)
        demo.edge = start_edge(aws, bucket, {keys.key_pair_id: keys.public_pem})
        demo.edge_key_id = keys.key_pair_id
    return demo
