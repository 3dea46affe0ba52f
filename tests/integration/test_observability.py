"""One structured line per request, EMF metrics, and no event dumps."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator, FakeTask
from local.lambda_context import LocalLambdaContext
from tests.conftest import LogLines
from tests.integration.conftest import completed

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


def test_the_event_itself_is_never_logged(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="processing")

    function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())

    assert "x-forwarded-for" not in log_lines.text
    assert "203.0.113.7" not in log_lines.text


def test_metrics_count_redirects_latency_and_errors_by_code(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    completed(aggregator, TASK)
    function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())
    function.lambda_handler(event("http_api_get.json", task_id="missing"), LocalLambdaContext())

    blobs = emf_blobs(capsys.readouterr().out)

    assert any(blob.get("Redirects") == [1.0] for blob in blobs)
    assert any("UpstreamLatency" in blob for blob in blobs)
    errors = [blob for blob in blobs if "Errors" in blob]
    assert [blob["ErrorCode"] for blob in errors] == ["task_not_found"]
    assert errors[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LumaDownload"
