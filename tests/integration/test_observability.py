"""One structured line per request, EMF metrics, and no event dumps."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator, FakeTask, Reply
from local.lambda_context import LocalLambdaContext
from luma_download.model import Deadline
from tests.conftest import LogLines
from tests.integration.conftest import completed, presigned_r2_url

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"


def emf_blobs(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]


def test_one_summary_line_per_request(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    completed(aggregator, TASK)

    function.lambda_handler(event("rest_api_get.json"), LocalLambdaContext())

    done = [r for r in log_lines.records() if r["message"] == "request done"]
    assert len(done) == 1
    line = done[0]
    assert line["task_id"] == TASK
    assert line["front_door"] == "rest_api"
    assert line["outcome"] == "redirect"
    assert line["status"] == 302
    assert line["upstream_ms"] > 0
    assert line["correlation_id"] == "e1c7a3b2-9d8f-4e6a-b5c4-3d2e1f0a9b8c"
    assert line["video_url"].startswith("https://dc53a917a6f427706a8ca3ecc7d70ea4.r2.cloudflarestorage.com/")
    assert "X-Amz-Signature=REDACTED" in line["video_url"]
    # Powertools' standard keys are there; its location is not (it would always name telemetry.py)
    assert {"level", "timestamp", "service", "cold_start", "function_request_id"} <= line.keys()
    assert "location" not in line


def test_the_event_itself_is_never_logged(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="processing")

    function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())

    # The capture works (the request's line is there), and the event's headers are not in it.
    assert log_lines.last("request done")["outcome"] == "video_not_ready"
    assert "x-forwarded-for" not in log_lines.text
    assert "203.0.113.7" not in log_lines.text


def test_an_error_line_says_what_happened_upstream(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    function.lambda_handler(event("http_api_get.json", task_id="missing"), LocalLambdaContext())

    done = [r for r in log_lines.records() if r["message"] == "request done"]
    assert len(done) == 1  # one line, from one place, errors included
    line = done[0]
    assert (line["outcome"], line["status"], line["error_type"]) == (
        "task_not_found",
        404,
        "TaskNotFoundError",
    )
    assert (line["link_cache"], line["upstream_status"]) == ("miss", 404)
    assert line["upstream_ms"] > 0
    assert line["detail"] == "task not found"  # the aggregator's words, for the operator only
    assert "video_url" not in line


def test_direct_invoke_errors_are_recorded_once_then_raised(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="failed", failure_reason="moderation")

    with pytest.raises(function.LumaDownloadError):
        function.lambda_handler(event("direct_invoke.json"), LocalLambdaContext())

    done = [r for r in log_lines.records() if r["message"] == "request done"]
    assert len(done) == 1
    assert done[0]["front_door"] == "direct"
    assert (done[0]["outcome"], done[0]["error_type"]) == ("task_failed", "TaskFailedError")
    assert done[0]["task_id"] == TASK


def test_a_record_carries_nothing_from_the_request_before(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    completed(aggregator, TASK)
    function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())
    function.lambda_handler(event("bad_task_id_http_api.json"), LocalLambdaContext())

    first, second = (r for r in log_lines.records() if r["message"] == "request done")
    assert "video_url" in first and "upstream_ms" in first
    assert second["outcome"] == "invalid_task_id"
    assert not {"video_url", "upstream_ms", "link_cache", "task_id"} & set(second)


def test_concurrent_lookups_keep_their_own_upstream_time(
    function: ModuleType, aggregator: Aggregator
) -> None:
    """Two lookups at once (the local API's threads): each outcome has its own time, none shared."""
    slow, fast = "slow-task", "fast-task"
    completed(aggregator, slow)
    completed(aggregator, fast)
    aggregator.script(
        f"/luma/generations/{slow}/download_video_url",
        Reply(200, {"url": presigned_r2_url(slow)}, delay=0.4),
    )
    outcomes: dict[str, Any] = {}

    def look_up(task_id: str) -> None:
        outcomes[task_id] = function.service.get_link(task_id, Deadline(5))

    slow_thread = threading.Thread(target=look_up, args=(slow,))
    slow_thread.start()
    time.sleep(0.1)  # the fast lookup starts and ends while the slow one waits upstream
    look_up(fast)
    slow_thread.join(timeout=10)

    assert outcomes[slow].link.task_id == slow and outcomes[fast].link.task_id == fast
    assert outcomes[slow].upstream_ms >= 400
    assert outcomes[fast].upstream_ms < 300


def test_metrics_count_requests_cache_latency_and_errors_by_code(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    completed(aggregator, TASK)
    function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())
    function.lambda_handler(event("http_api_get.json", task_id="missing"), LocalLambdaContext())

    blobs = emf_blobs(capsys.readouterr().out)

    assert [blob["Requests"] for blob in blobs if "Requests" in blob] == [[1.0], [1.0]]
    assert [len(blob["UpstreamLatency"]) for blob in blobs if "UpstreamLatency" in blob] == [1, 1]
    assert any("UpstreamLatency" in blob for blob in blobs)
    errors = [blob for blob in blobs if "Errors" in blob]
    assert [blob["ErrorCode"] for blob in errors] == ["task_not_found"]
    assert errors[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LumaDownload"


@pytest.fixture
def logging_at_warning(function: ModuleType) -> Iterator[None]:
    """The function as deployed with POWERTOOLS_LOG_LEVEL=WARNING (the level its Logger sets)."""
    before = function.logger.log_level
    function.logger.setLevel("WARNING")
    yield
    function.logger.setLevel(before)


@pytest.mark.usefixtures("logging_at_warning")
def test_at_warning_a_redirect_writes_no_line_but_all_its_metrics(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    capsys: pytest.CaptureFixture[str],
) -> None:
    completed(aggregator, TASK)

    response = function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 302
    assert log_lines.records() == []
    blobs = emf_blobs(capsys.readouterr().out)
    assert [blob["Requests"] for blob in blobs if "Requests" in blob] == [[1.0]]
    assert [len(blob["UpstreamLatency"]) for blob in blobs if "UpstreamLatency" in blob] == [1]


@pytest.mark.usefixtures("logging_at_warning")
def test_at_warning_a_fault_still_writes_its_line_at_error(
    variant: Callable[..., Any], event: Callable[..., Any], log_lines: LogLines
) -> None:
    handle = variant(secrets=object())  # wired to something broken: the route crashes

    response = handle(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 500
    line = log_lines.last("request done")
    assert (line["level"], line["outcome"], line["error_type"]) == (
        "ERROR",
        "internal_error",
        "AttributeError",
    )
