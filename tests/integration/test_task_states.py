"""Resellers answer 400 until a task completes; the task itself says why, and each case has its status."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

from local.aggregator import Aggregator, FakeTask, Reply
from local.lambda_context import LocalLambdaContext
from tests.integration.conftest import presigned_r2_url

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"
DOWNLOAD_PATH = f"/luma/generations/{TASK}/download_video_url"
TASK_PATH = f"/luma/generations/{TASK}"


def get(function: ModuleType, event: Callable[..., Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    response = function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())
    body = json.loads(response["body"]) if response["body"] else {}
    return response["statusCode"], response["headers"], body


def test_processing_task_is_409_with_retry_after(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="processing")

    status, headers, body = get(function, event)

    assert status == 409
    assert headers["Retry-After"] == "10"
    assert body["error"]["code"] == "video_not_ready"
    assert "processing" in body["error"]["message"]
    # the 400 was followed by one look at the task itself
    assert [r.path for r in aggregator.requests] == [DOWNLOAD_PATH, TASK_PATH]


def test_pending_and_dreaming_are_not_ready_either(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    for state in ("pending", "queued", "dreaming"):
        aggregator.tasks[TASK] = FakeTask(state=state)
        status, _, body = get(function, event)
        assert (status, body["error"]["code"]) == (409, "video_not_ready"), state


def test_failed_task_is_410_with_its_reason(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="failed", failure_reason="prompt rejected by moderation")

    status, headers, body = get(function, event)

    assert status == 410
    assert body["error"]["code"] == "task_failed"
    assert "prompt rejected by moderation" in body["error"]["message"]
    assert "Retry-After" not in headers


def test_unknown_task_is_404(function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]) -> None:
    status, _, body = get(function, event)

    assert status == 404
    assert body["error"]["code"] == "task_not_found"


def test_completed_task_link_is_used_when_the_download_endpoint_says_400(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given an aggregator whose download endpoint still answers 400 but whose task has the link
    url = presigned_r2_url(TASK)
    aggregator.tasks[TASK] = FakeTask(state="completed", url=url)
    aggregator.script(DOWNLOAD_PATH, Reply(400, {"detail": {"reason": "task is not completed", "code": 1}}))

    response = function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == url


def test_completed_without_a_published_link_is_not_ready(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="completed", url=None)

    status, _, body = get(function, event)

    assert (status, body["error"]["code"]) == (409, "video_not_ready")


def test_unknown_state_is_a_bad_upstream(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="exploded")

    status, _, body = get(function, event)

    assert (status, body["error"]["code"]) == (502, "bad_upstream")


def test_error_bodies_in_every_reseller_dialect_are_understood(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # {"detail": "..."}, {"detail": {"reason"}}, {"error": {"message"}}: a 404 in each is task_not_found
    for body in (
        {"detail": "gone"},
        {"detail": {"reason": "gone", "code": 1}},
        {"error": {"message": "gone"}},
    ):
        aggregator.script(DOWNLOAD_PATH, Reply(404, body))
        status, _, answer = get(function, event)
        assert (status, answer["error"]["code"]) == (404, "task_not_found")
