"""Real loopback parts for the handler: moto's server mode (Secrets Manager, S3, SQS) and the simulator.

The function finds them through ordinary configuration (AWS_ENDPOINT_URL_SECRETS_MANAGER, _S3, _SQS
and UPSTREAM_BASE_URL), set before ``handler`` is imported, exactly as in a deployed Lambda. The
session's function keeps the archive off, as today; ``archive_rig`` wires one with it on.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
from aws_lambda_powertools.utilities import parameters

from local.aggregator import Aggregator, FakeTask
from local.aws import EmbeddedAws, start_embedded_aws
from local.demo_video import DEMO_MP4
from local.sqs_poller import PollResult, poll_once
from luma_download.archive.events import SOURCE
from tests.conftest import EVENT_TASK_ID

SECRET_ID = "luma/aggregator-token"
INITIAL_TOKEN = "sk-initial-0123456789abcdef"
ROTATED_TOKEN = "sk-rotated-fedcba9876543210"


def presigned_r2_url(task_id: str, signed_at: datetime | None = None, expires: int = 3600) -> str:
    """A URL shaped like the aggregator doc's example: Cloudflare R2, SigV4, one hour."""
    stamp = (signed_at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return (
        f"https://dc53a917a6f427706a8ca3ecc7d70ea4.r2.cloudflarestorage.com/ai-lumalabs-storage-private/"
        f"{task_id}/{task_id}_raw_video.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=60bf44f30d45b472f9dd032de33e15d1%2F20261124%2Fauto%2Fs3%2Faws4_request"
        f"&X-Amz-Date={stamp}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature=55dd4a936863559dfdd81708823eae8f07cb3dc3c4bcdde9fe6fb0d7c7fcb0be"
    )


SIGNATURE = "55dd4a936863559dfdd81708823eae8f07cb3dc3c4bcdde9fe6fb0d7c7fcb0be"


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator[EmbeddedAws]:
    saved = dict(os.environ)
    aws = start_embedded_aws()
    aws.apply()
    aws.put_token(SECRET_ID, INITIAL_TOKEN)
    yield aws
    aws.stop()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def aggregator() -> Iterator[Aggregator]:
    simulator = Aggregator(tokens={INITIAL_TOKEN}).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def function_env(embedded_aws: EmbeddedAws, aggregator: Aggregator) -> dict[str, str]:
    env = {
        "UPSTREAM_BASE_URL": aggregator.base_url,
        "TOKEN_SECRET_ID": SECRET_ID,
        "UPSTREAM_READ_TIMEOUT": "1",
        "POWERTOOLS_SERVICE_NAME": "luma-download",
        "POWERTOOLS_METRICS_NAMESPACE": "LumaDownload",
    }
    os.environ.update(env)
    return {**embedded_aws.environment(), **env}


@pytest.fixture(scope="session")
def function(function_env: dict[str, str]) -> ModuleType:
    """The handler module, imported once its environment is in place (as Lambda's init does)."""
    import handler  # noqa: PLC0415

    return handler


@pytest.fixture(autouse=True)
def fresh_state(function: ModuleType, embedded_aws: EmbeddedAws, aggregator: Aggregator) -> Iterator[None]:
    aggregator.reset()
    aggregator.valid_tokens = {INITIAL_TOKEN}
    embedded_aws.put_token(SECRET_ID, INITIAL_TOKEN)
    parameters.clear_caches()
    function.service.tokens.clear()
    function.service.link_cache.clear()
    yield


@pytest.fixture
def secret_reads(function: ModuleType) -> Iterator[list[str]]:
    """Every GetSecretValue call the function's own boto3 client really makes."""
    calls: list[str] = []

    def count(**kwargs: Any) -> None:
        calls.append(kwargs["params"]["SecretId"])

    events = function.secrets.client.meta.events
    events.register("before-parameter-build.secrets-manager.GetSecretValue", count)
    yield calls
    events.unregister("before-parameter-build.secrets-manager.GetSecretValue", count)


@pytest.fixture
def variant(function: ModuleType, function_env: dict[str, str]) -> Callable[..., Any]:
    """A second wiring of the function with some settings changed (what a redeploy would give)."""

    def build(pool: Any = None, secrets: Any = None, **changes: str) -> Any:
        return function.build_service(
            {**function_env, **changes}, pool=pool or function.pool, secrets=secrets or function.secrets
        ).handle

    return build


def closed_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def completed(aggregator: Aggregator, task_id: str, url: str | None = None) -> str:
    """Register a completed task and return the URL the aggregator will hand out for it."""
    url = url or presigned_r2_url(task_id)
    aggregator.tasks[task_id] = FakeTask(state="completed", url=url)
    return url


# -- the archive: a bucket and a queue of its own per test, and the function wired to them ------------


def completed_with_file(
    aggregator: Aggregator, task_id: str = EVENT_TASK_ID, data: bytes | None = None, **file: Any
) -> str:
    """A completed task whose links point at the simulator's own copy of ``data`` (the demo MP4 by
    default), as a reseller's storage would serve it; returns the links' path."""
    sign = aggregator.serve_file(task_id, DEMO_MP4.read_bytes() if data is None else data, **file)
    aggregator.tasks[task_id] = FakeTask(state="completed", url=sign)
    return urlsplit(sign()).path


@dataclass
class ArchiveRig:
    """The function with the archive on (a fresh container), its bucket and queue, and what it called."""

    function: ModuleType
    aws: EmbeddedAws
    env: dict[str, str]
    bucket: str
    queue_url: str
    service: Any
    s3_calls: list[str] = field(default_factory=list)  # operations the function's own S3 client made

    @property
    def handle(self) -> Any:
        return self.service.handle

    @property
    def s3(self) -> Any:
        return self.aws.client("s3")

    @property
    def sqs(self) -> Any:
        return self.aws.client("sqs")

    def build(self, clients: Any = None, **changes: str) -> Any:
        """Another container of the same function, with some settings changed."""
        env = {**self.env, **changes}
        clients = clients or self.function.archive_clients(env)
        if clients is not None:
            clients.s3.meta.events.register("before-call.s3.*", self._count)
        return self.function.build_service(
            env, pool=self.function.pool, secrets=self.function.secrets, archive=clients
        )

    def _count(self, model: Any, **_: Any) -> None:
        self.s3_calls.append(model.name)

    def key(self, task_id: str) -> str:
        return f"luma/{task_id}.mp4"

    def stored(self, task_id: str) -> bytes | None:
        """The archived copy's bytes, or ``None`` when there is no object."""
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=self.key(task_id))["Body"].read())
        except self.s3.exceptions.NoSuchKey:
            return None

    def open_uploads(self) -> list[Any]:
        return list(self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []))

    def send_job(self, body: str) -> str:
        return str(self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"])

    def run_jobs(self, handle: Any = None, *, max_polls: int = 5) -> list[PollResult]:
        """Play the event source mapping until a receive comes back empty (bounded)."""
        results = []
        for _ in range(max_polls):
            result = poll_once(self.sqs, self.queue_url, handle or self.handle, timeout_seconds=60)
            if not result.received:
                break
            results.append(result)
        return results

    def queued(self) -> tuple[int, int]:
        """(visible, in flight) messages on the queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )


@pytest.fixture
def archive_rig(function: ModuleType, function_env: dict[str, str], embedded_aws: EmbeddedAws) -> ArchiveRig:
    name = uuid.uuid4().hex[:12]
    bucket = embedded_aws.create_bucket(f"archive-{name}")
    queue_url = embedded_aws.create_queue(f"jobs-{name}")
    env = {**function_env, "ARCHIVE_BUCKET": bucket, "ARCHIVE_QUEUE_URL": queue_url}
    rig = ArchiveRig(function, embedded_aws, env, bucket, queue_url, service=None)
    rig.service = rig.build()
    return rig


# -- the archive's events: a bus whose rule hands every luma-download event to a queue -------------


@dataclass
class Bus:
    """An EventBridge bus of its own, with a rule sending everything from ``luma-download`` to a queue."""

    name: str
    queue_url: str
    sqs: Any

    def delivered(self, *, max_receives: int = 5) -> list[dict[str, Any]]:
        """Every event the rule delivered to the queue so far (received until the queue is empty)."""
        found: list[dict[str, Any]] = []
        for _ in range(max_receives):
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                break
            found += [json.loads(message["Body"]) for message in messages]
        return found


@pytest.fixture
def bus(embedded_aws: EmbeddedAws) -> Bus:
    name = f"luma-events-{uuid.uuid4().hex[:12]}"
    eventbridge, sqs = embedded_aws.client("events"), embedded_aws.client("sqs")
    eventbridge.create_event_bus(Name=name)
    queue_url = sqs.create_queue(QueueName=f"{name}-target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    eventbridge.put_rule(
        Name="archive-events", EventBusName=name, EventPattern=json.dumps({"source": [SOURCE]})
    )
    eventbridge.put_targets(
        Rule="archive-events", EventBusName=name, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    return Bus(name, queue_url, sqs)


def fetch(url: str) -> tuple[int, bytes]:
    """GET a link as a client would (a presigned S3 link, a simulator file link): status and body."""
    response = urllib3.request("GET", url, redirect=False, timeout=10, retries=False)
    return response.status, response.data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def emf_blobs(stdout: str) -> list[dict[str, Any]]:
    """The EMF metric blobs among what the function printed."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]
