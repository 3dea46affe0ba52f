"""The function wired to a well-behaved aggregator and the canary token, and one call observed whole.

The suites here call ``handler.build_service(...).handle`` (what ``handler.lambda_handler`` is) with
their own settings: the aggregator simulator that knows every id (``OutcomeAggregator``), moto's
Secrets Manager holding the canary, and no link cache, so every valid id reaches the aggregator and
its path can be checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from hypothesis import HealthCheck, settings

from local.aggregator import SeenRequest
from local.aws import EmbeddedAws
from local.lambda_context import LocalLambdaContext
from local.run import SECRET_ID
from luma_download.errors import LumaDownloadError
from tests.conftest import CANARY_TOKEN, LeakWatch
from tests.surface.backends import (
    TASK_ID_RULE,
    OutcomeAggregator,
    canary_backends,
    lambda_headers,
    upstream_paths,
)

Handle = Callable[[Any, Any], Any]

# Bounded so the whole fuzz suite stays well under a minute on 2 cores; ``database=None`` keeps
# .hypothesis/ out of the work tree (a failure prints its example and a reproduce blob instead).
FUZZ_SETTINGS: Final = settings(
    deadline=None,
    database=None,
    print_blob=True,
    # The leak watch is meant to span every example of a test.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture(scope="package")
def backends() -> Iterator[tuple[EmbeddedAws, OutcomeAggregator]]:
    with canary_backends() as pair:
        yield pair


@pytest.fixture(scope="package")
def aggregator(backends: tuple[EmbeddedAws, OutcomeAggregator]) -> OutcomeAggregator:
    return backends[1]


@pytest.fixture(scope="module")
def handle(handler_module: ModuleType, backends: tuple[EmbeddedAws, OutcomeAggregator]) -> Handle:
    aws, aggregator = backends
    environ = {
        "UPSTREAM_BASE_URL": aggregator.base_url,
        "TOKEN_SECRET_ID": SECRET_ID,
        "URL_CACHE_MAX_ENTRIES": "0",  # every valid id goes upstream, so its path is always seen
    }
    secrets = SecretsProvider(boto3_client=aws.client("secretsmanager"))
    service = handler_module.build_service(environ, pool=handler_module.pool, secrets=secrets)
    handle: Handle = service.handle
    return handle


@dataclass
class Call:
    """One invocation: what it returned or raised, and every request it made to the aggregator."""

    event: Any
    response: Any = None
    error: BaseException | None = None
    upstream: tuple[SeenRequest, ...] = ()

    @property
    def status(self) -> int | None:
        if isinstance(self.response, dict) and "statusCode" in self.response:
            return int(self.response["statusCode"])
        return None

    def header(self, name: str) -> str | None:
        """A response header from ``headers`` or (REST API) ``multiValueHeaders``."""
        values = [value for key, value in self.headers() if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    def error_body(self) -> dict[str, Any]:
        body = json.loads(self.response["body"])
        assert isinstance(body, dict)
        return body

    def headers(self) -> list[tuple[str, str]]:
        return lambda_headers(self.response) if isinstance(self.response, dict) else []


def call(handle: Handle, aggregator: OutcomeAggregator, event: Any, leak_watch: LeakWatch) -> Call:
    """Invoke once, catching nothing but what the function raised; feed the leak watch all it let out."""
    seen = len(aggregator.requests)
    result = Call(event)
    try:
        result.response = handle(event, LocalLambdaContext(timeout_seconds=15))
    except Exception as exc:  # the property under test decides which are allowed
        result.error = exc
        leak_watch.exception("a fuzzed call", exc)
    result.upstream = tuple(aggregator.requests[seen:])
    if result.status is not None:
        leak_watch.response(
            "a fuzzed call", result.status, result.headers(), str(result.response.get("body"))
        )
    elif isinstance(result.response, dict):
        leak_watch.document("a fuzzed direct invoke", result.response)
    elif result.response is not None:
        leak_watch.text("a fuzzed direct invoke's answer", json.dumps(result.response))
    return result


def assert_no_fault_of_ours(result: Call) -> None:
    """No unhandled exception, no 5xx: with a well-behaved aggregator, any fault is the caller's."""
    if result.error is not None:
        assert isinstance(result.error, LumaDownloadError), f"unhandled {result.error!r}"
        assert result.error.status < 500, (
            f"{type(result.error).__name__} ({result.error.status}): {result.error}"
        )
        return
    if result.status is None:
        return  # a direct invoke's document; its content is checked by the caller
    assert result.status < 500, f"{result.status}: {result.response.get('body')!r}"
    if result.status >= 400:
        error = result.error_body()["error"]
        assert isinstance(error["code"], str) and error["code"], error
        assert isinstance(error["message"], str) and error["message"], error
        assert error["request_id"] is None or isinstance(error["request_id"], str), error
        assert result.header("Cache-Control") == "no-store"


def assert_upstream_only_for(result: Call, meant: set[str]) -> None:
    """Nothing went upstream, or exactly the requests for one of the ids the caller meant (a valid one)."""
    for request in result.upstream:
        assert request.authorization == f"Bearer {CANARY_TOKEN}", request
        task_path = request.path.removeprefix("/luma/generations/").removesuffix("/download_video_url")
        assert TASK_ID_RULE.fullmatch(task_path), (
            f"upstream request for an id outside the pattern: {request.path!r}"
        )
    paths = tuple(request.path for request in result.upstream)
    allowed = {tuple(upstream_paths(task_id)) for task_id in meant if TASK_ID_RULE.fullmatch(task_id)}
    assert paths == () or paths in allowed, f"upstream {paths}, caller meant {sorted(meant)!r}"
