"""Workflows invoke the function directly and get data back, or an exception whose class name they match."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator, FakeTask
from local.lambda_context import LocalLambdaContext
from luma_download import errors
from tests.integration.conftest import completed

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"


def test_direct_invoke_returns_the_workflow_document(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    url = completed(aggregator, TASK)

    document = function.lambda_handler(event("direct_invoke.json"), LocalLambdaContext())

    assert document["task_id"] == TASK
    assert document["url"] == url
    assert document["expires_at"].endswith("Z")


@pytest.mark.parametrize(
    ("task", "error_name"),
    [
        (FakeTask(state="processing"), "VideoNotReadyError"),
        (FakeTask(state="failed", failure_reason="nsfw"), "TaskFailedError"),
        (None, "TaskNotFoundError"),
        (FakeTask(state="completed", url="https://evil.example.com/x.mp4"), "UpstreamError"),
    ],
)
def test_failures_raise_the_contract_exception(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    task: FakeTask | None,
    error_name: str,
) -> None:
    if task is not None:
        aggregator.tasks[TASK] = task

    with pytest.raises(errors.LumaDownloadError) as raised:
        function.lambda_handler(event("direct_invoke.json"), LocalLambdaContext())

    # Lambda reports type(exc).__name__ as errorType: that is what Step Functions matches
    assert type(raised.value).__name__ == error_name


@pytest.mark.parametrize(
    ("event_name", "error_type"),
    [
        ("bad_task_id_direct_invoke.json", errors.InvalidTaskIdError),
        ("bad_direct_invoke_no_task_id.json", errors.InvalidRequestError),
        ("unsupported_s3_event.json", errors.InvalidRequestError),
    ],
)
def test_bad_payloads_raise_before_any_upstream_call(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    event_name: str,
    error_type: type[Exception],
) -> None:
    with pytest.raises(error_type) as raised:
        function.lambda_handler(event(event_name), LocalLambdaContext())

    assert type(raised.value) is error_type
    assert aggregator.requests == []


@pytest.mark.parametrize("payload", [None, "1fa17995", ["task_id"], 42, {"task_id": None}, {"task_id": 7}])
def test_odd_payloads_are_invalid_requests(
    function: ModuleType, aggregator: Aggregator, payload: object
) -> None:
    with pytest.raises(errors.InvalidRequestError):
        function.lambda_handler(payload, LocalLambdaContext())
    assert aggregator.requests == []


@pytest.mark.parametrize(
    "payload",
    [
        {"version": "2.0", "requestContext": {"http": {"method": "GET"}}, "rawPath": "/luma/generations/a/x"},
        {"version": "2.0", "requestContext": {"http": {"method": "GET"}, "stage": "$default"}, "rawPath": 7},
    ],
)
def test_hand_made_http_events_missing_fields_are_invalid_requests(
    function: ModuleType, aggregator: Aggregator, payload: object
) -> None:
    # Given an event shaped like API Gateway's but missing what API Gateway always sends
    with pytest.raises(errors.InvalidRequestError, match="API Gateway"):
        function.lambda_handler(payload, LocalLambdaContext())
    assert aggregator.requests == []
