"""A misbehaving aggregator: retries where they help, clear errors where they do not, never a hang."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator, Reply
from local.hostile import Drip, HostileServer, Script
from local.lambda_context import LocalLambdaContext
from tests.integration.conftest import closed_port, completed

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"
DOWNLOAD_PATH = f"/luma/generations/{TASK}/download_video_url"


def call(
    function: ModuleType, event: Callable[..., Any], context: LocalLambdaContext | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    response = function.lambda_handler(event("http_api_get.json"), context or LocalLambdaContext())
    body = json.loads(response["body"]) if response["body"] else {}
    return response["statusCode"], response["headers"], body


def test_5xx_then_success_is_retried(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    url = completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, Reply(503), Reply(502, b"<html>bad gateway</html>"))

    status, headers, _ = call(function, event)

    assert status == 302
    assert headers["Location"] == url
    assert len(aggregator.requests) == 3


def test_5xx_after_two_retries_is_bad_upstream(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, Reply(500), Reply(500), Reply(500), Reply(500))

    status, _, body = call(function, event)

    assert (status, body["error"]["code"]) == (502, "bad_upstream")
    assert len(aggregator.requests) == 3  # one try and at most two retries


def test_429_whose_wait_fits_is_waited_out(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    url = completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}))

    status, headers, _ = call(function, event)

    assert status == 302
    assert headers["Location"] == url
    assert len(aggregator.requests) == 2


def test_429_whose_wait_does_not_fit_is_passed_on(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "120"}))

    status, headers, body = call(function, event)

    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert headers["Retry-After"] == "120"
    assert len(aggregator.requests) == 1  # the function did not sleep two minutes


def test_retry_after_is_bounded_by_the_remaining_time(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given an invocation with 3 s left (1 s of it reserved to answer) and a 2 s Retry-After
    completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, Reply(429, b"", {"Retry-After": "2"}))

    status, _, body = call(function, event, LocalLambdaContext(timeout_seconds=3))

    # Then the wait plus another attempt does not fit: no sleep, the 429 is passed on
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert len(aggregator.requests) == 1


def test_slow_upstream_times_out_as_504(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given an aggregator slower than the read timeout (1 s in these tests) on every try
    completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, *[Reply(200, {"url": "x"}, delay=1.6)] * 3)

    status, _, body = call(function, event)

    assert (status, body["error"]["code"]) == (504, "upstream_timeout")


def test_no_time_left_means_no_upstream_call(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    completed(aggregator, TASK)

    status, _, body = call(function, event, LocalLambdaContext(timeout_seconds=0.5))

    assert (status, body["error"]["code"]) == (504, "upstream_timeout")
    assert aggregator.requests == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<html>not json</html>"),
        Reply(200, b'["a list"]'),
        Reply(200, {"url": 42}),
        Reply(200, b"{" + b'"pad": "' + b"x" * 70_000 + b'"}'),
        Reply(418, {"detail": "teapot"}),
    ],
    ids=["html", "json-list", "url-not-string", "oversized-body", "odd-status"],
)
def test_garbage_is_bad_upstream(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], reply: Reply
) -> None:
    completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, reply)

    status, _, body = call(function, event)

    assert (status, body["error"]["code"]) == (502, "bad_upstream")


def test_upstream_redirects_are_not_followed(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, Reply(302, b"", {"Location": f"{aggregator.base_url}/stolen-token"}))

    status, _, body = call(function, event)

    assert (status, body["error"]["code"]) == (502, "bad_upstream")
    assert [r.path for r in aggregator.requests] == [DOWNLOAD_PATH]


def test_unreachable_upstream_is_503(variant: Callable[..., Any], event: Callable[..., Any]) -> None:
    # Given an aggregator address where nothing listens
    handle = variant(UPSTREAM_BASE_URL=f"http://127.0.0.1:{closed_port()}")

    response = handle(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["code"] == "upstream_unavailable"
    assert response["headers"]["Retry-After"] == "5"


BODY = b'{"url": "https://x.r2.cloudflarestorage.com/v.mp4"}'


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", id="status-and-headers"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY), id="body"),
    ],
)
def test_a_dripping_aggregator_is_cut_off_at_the_deadline(
    variant: Callable[..., Any], event: Callable[..., Any], answer: bytes
) -> None:
    # One byte every 0.2 s (the headers never end: the block repeats), from the fault suite's server.
    dripped = answer if b"Content-Length" in answer else answer * 10
    server = HostileServer(Script({}, otherwise=(Drip(dripped, 0.2),))).start()
    try:
        # Each byte arrives well inside the 1 s read timeout: only the whole exchange can run out.
        handle = variant(UPSTREAM_BASE_URL=server.base_url)
        started = time.monotonic()
        response = handle(event("http_api_get.json"), LocalLambdaContext(timeout_seconds=3))
        elapsed = time.monotonic() - started
    finally:
        server.abort()
        server.stop()

    assert (response["statusCode"], json.loads(response["body"])["error"]["code"]) == (
        504,
        "upstream_timeout",
    )
    assert elapsed < 3.0  # inside the invocation's time (3 s), less the reserve to answer


@pytest.mark.parametrize("retry_after", ["soon", "-5"])
def test_429_with_a_malformed_retry_after_is_still_429(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], retry_after: str
) -> None:
    completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, Reply(429, b"", {"Retry-After": retry_after}))

    status, headers, body = call(function, event)

    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert headers["Retry-After"] == "10"  # the aggregator's wait is unusable: ours
    assert len(aggregator.requests) == 1
