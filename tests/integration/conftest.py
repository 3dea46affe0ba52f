"""Real loopback parts for the handler: moto's Secrets Manager (server mode) and the aggregator simulator.

The function finds both through ordinary configuration (AWS_ENDPOINT_URL_SECRETS_MANAGER and
UPSTREAM_BASE_URL), set before ``handler`` is imported, exactly as in a deployed Lambda.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from local.aggregator import Aggregator, FakeTask
from local.aws import EmbeddedAws, start_embedded_aws
from luma_download import errors
from luma_download.model import Deadline

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


def archived(task_id: str, deadline: Deadline) -> dict[str, Any]:
    """Stands in for issue 9's archive (not built yet): the document it is specified to return."""
    if task_id == "explodes":
        raise RuntimeError("a bug in the archive, with internal text")
    if task_id == "gone":
        raise errors.TaskNotFoundError("task not found")
    return {
        "task_id": task_id,
        "url": f"https://archive.example.com/{task_id}.mp4",
        "expires_at": "2026-11-24T15:03:15Z",
        "source": "archive",
        "s3_uri": f"s3://archive/{task_id}.mp4",
        "size": 58_000,
    }
