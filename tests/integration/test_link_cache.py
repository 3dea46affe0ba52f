"""A warm container answers repeat requests for a task from memory until the link nears expiry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator, FakeTask
from local.lambda_context import LocalLambdaContext
from tests.conftest import LogLines
from tests.integration.conftest import SIGNATURE, completed, presigned_r2_url

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"


def get(function: ModuleType, event: Callable[..., Any], task_id: str = TASK) -> dict[str, Any]:
    response: dict[str, Any] = function.lambda_handler(
        event("http_api_get.json", task_id=task_id), LocalLambdaContext()
    )
    return response


def test_a_repeat_request_makes_no_upstream_or_secret_call(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    secret_reads: list[str],
    capsys: pytest.CaptureFixture[str],
    log_lines: LogLines,
) -> None:
    url = completed(aggregator, TASK)

    first, second = get(function, event), get(function, event)

    assert first["headers"]["Location"] == second["headers"]["Location"] == url
    assert len(aggregator.requests) == 1
    assert len(secret_reads) == 1
    stdout = capsys.readouterr().out
    # Two requests, one miss: the hit is counted in Requests and told apart on its log line.
    assert stdout.count('"Requests":[1.0]') == 2
    assert stdout.count('"UpstreamLatency":[') == 1  # one sample per miss: the misses' count
    assert [line["link_cache"] for line in log_lines.records() if line["message"] == "request done"] == [
        "miss",
        "hit",
    ]


def test_max_age_counts_down_from_the_same_expiry(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given a link signed 20 minutes ago for an hour: 40 minutes of life, 35 usable
    signed_at = datetime.now(UTC) - timedelta(minutes=20)
    completed(aggregator, TASK, url=presigned_r2_url(TASK, signed_at=signed_at))

    first, second = get(function, event), get(function, event)

    for response in (first, second):
        max_age = int(response["headers"]["Cache-Control"].removeprefix("private, max-age="))
        assert 35 * 60 - 30 <= max_age <= 35 * 60


def test_not_ready_and_errors_are_never_cached(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="processing")
    assert get(function, event)["statusCode"] == 409

    url = completed(aggregator, TASK)
    response = get(function, event)

    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == url


def test_a_link_inside_the_margin_is_fetched_again(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given a link with 4 minutes left (inside the 5-minute margin)
    signed_at = datetime.now(UTC) - timedelta(minutes=56)
    completed(aggregator, TASK, url=presigned_r2_url(TASK, signed_at=signed_at))

    get(function, event)
    get(function, event)

    assert len(aggregator.requests) == 2


def test_distinct_tasks_are_cached_separately(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    urls = {task_id: completed(aggregator, task_id) for task_id in ("a1", "b2", "c3")}

    for _ in range(2):
        for task_id, url in urls.items():
            assert get(function, event, task_id)["headers"]["Location"] == url

    assert len(aggregator.requests) == 3


def test_direct_invoke_shares_the_cache(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    url = completed(aggregator, TASK)
    get(function, event)

    document = function.lambda_handler({"task_id": TASK}, LocalLambdaContext())

    assert document["url"] == url
    assert len(aggregator.requests) == 1
    assert json.dumps(document)


def test_a_hit_is_logged_with_the_redacted_url(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    completed(aggregator, TASK)

    get(function, event)
    get(function, event)

    hit = log_lines.last("request done")
    assert hit["link_cache"] == "hit"
    assert "X-Amz-Signature=REDACTED" in hit["video_url"]
    assert SIGNATURE not in log_lines.text
