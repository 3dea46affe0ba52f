"""Security is behaviour: bad ids never leave, bad URLs never redirect, the token never shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator, FakeTask, Reply
from local.aws import EmbeddedAws
from local.lambda_context import LocalLambdaContext
from luma_download.errors import LumaDownloadError
from tests.conftest import LogLines
from tests.integration.conftest import INITIAL_TOKEN, ROTATED_TOKEN, SECRET_ID, SIGNATURE, completed

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"
SEED_DOC_URL = (
    "https://dc53a917a6f427706a8ca3ecc7d70ea4.r2.cloudflarestorage.com/ai-lumalabs-storage-private/"
    "lit_lite_inference_text2vid_v1.0/1fa17995-f527-46a5-9796-294b453b8a7f/"
    "1fa17995-f527-46a5-9796-294b453b8a7f_raw_video_1_video006b20d61fd31411e99208caddb67c061.mp4"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=60bf44f30d45b472f9dd032de33e15d1%2F20240707%2Fauto"
    "%2Fs3%2Faws4_request&X-Amz-Date=20240707T160315Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=55dd4a936863559dfdd81708823eae8f07cb3dc3c4bcdde9fe6fb0d7c7fcb0be"
)


@pytest.mark.parametrize("event_name", ["bad_task_id_http_api.json", "bad_task_id_crlf_rest_api.json"])
def test_bad_id_events_are_400_and_never_reach_upstream(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], event_name: str
) -> None:
    response = function.lambda_handler(event(event_name), LocalLambdaContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "invalid_task_id"
    assert aggregator.requests == []


@pytest.mark.parametrize(
    "task_id",
    [
        *["..", "-leading-dash", "_leading", "a%20b", "a%0D%0Ab", "caf%C3%A9", "x" * 129, "a.b", "a;b"],
        # as API Gateway may hand them over, percent-decoded: the route's own pattern refuses these
        *["a\r\nSet-Cookie: x=1", "../../admin", "a/b", "a?b", "a#b", 'a"b'],
    ],
)
def test_ids_outside_the_pattern_are_400(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], task_id: str
) -> None:
    response = function.lambda_handler(event("http_api_get.json", task_id=task_id), LocalLambdaContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "invalid_task_id"
    assert aggregator.requests == []


def test_a_bad_id_with_another_method_is_still_405(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    post = event("http_api_post.json", task_id="a/b")

    response = function.lambda_handler(post, LocalLambdaContext())

    assert response["statusCode"] == 405
    assert aggregator.requests == []


def test_the_aggregator_docs_example_url_is_allowed(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    completed(aggregator, TASK, url=SEED_DOC_URL)

    response = function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == SEED_DOC_URL
    assert response["headers"]["Cache-Control"] == "private, max-age=0"  # signed in 2024: long dead


@pytest.mark.parametrize(
    "url",
    [
        "http://dc53a917.r2.cloudflarestorage.com/v.mp4",
        "javascript:alert(document.cookie)",
        "https://evil.example.com/v.mp4",
        "https://dc53a917.r2.cloudflarestorage.com.evil.example.com/v.mp4",
        "https://r2.cloudflarestorage.com/v.mp4",
        "https://user:pass@dc53a917.r2.cloudflarestorage.com/v.mp4",
        "https://dc53a917.r2.cloudflarestorage.com/v.mp4\r\nSet-Cookie: session=stolen",
        "https://dc53a917.r2.cloudflarestorage.com/v 1.mp4",
        " https://dc53a917.r2.cloudflarestorage.com/v.mp4",
        "https://dc53a917.r2.cloudflarestorage.com/v\u00e9.mp4",
        "//evil.example.com/v.mp4",
        "https://dc53a917.r2.cloudflarestorage.com/" + "a" * 5000,
        "",
    ],
)
def test_unsafe_video_urls_are_refused(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], url: str
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="completed", url=url)

    response = function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 502
    assert json.loads(response["body"])["error"]["code"] == "bad_upstream"
    assert "Location" not in response["headers"]


def test_an_unexpected_fault_is_a_json_500_without_a_trace(
    variant: Callable[..., Any], event: Callable[..., Any]
) -> None:
    # Given a function wired to something broken (a secrets provider that is not one)
    handle = variant(secrets=object())

    response = handle(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 500
    body = json.loads(response["body"])
    assert body == {
        "error": {"code": "internal_error", "message": "internal error", "request_id": "Cf3nPjRNoAMEV4g="}
    }


def test_the_token_and_signatures_never_appear_in_logs_responses_or_errors(
    function: ModuleType,
    aggregator: Aggregator,
    embedded_aws: EmbeddedAws,
    event: Callable[..., Any],
    log_lines: LogLines,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an aggregator that echoes the token back in its failure text and error messages
    seen: list[str] = []
    aggregator.tasks[TASK] = FakeTask(state="failed", failure_reason=f"account {INITIAL_TOKEN} banned")
    aggregator.tasks["t-ok"] = FakeTask(state="completed", url=completed(aggregator, "t-ok"))
    aggregator.script(
        "/luma/generations/t-bad/download_video_url",
        Reply(500, {"error": {"message": f"invalid key {INITIAL_TOKEN}"}}),
        *[Reply(500, {"detail": f"invalid key {INITIAL_TOKEN}"})] * 2,
    )

    # When requests of every outcome run, including a rotation
    for task_id in (TASK, "t-ok", "t-bad", "missing"):
        response = function.lambda_handler(event("http_api_get.json", task_id=task_id), LocalLambdaContext())
        seen.append(json.dumps(response))
    embedded_aws.put_token(SECRET_ID, ROTATED_TOKEN)
    aggregator.valid_tokens = {ROTATED_TOKEN}
    seen.append(
        json.dumps(function.lambda_handler(event("http_api_get.json", task_id="t-ok"), LocalLambdaContext()))
    )
    for task_id in (TASK, "missing"):
        with pytest.raises(LumaDownloadError) as raised:
            function.lambda_handler({"task_id": task_id}, LocalLambdaContext())
        seen.append(f"{type(raised.value).__name__}: {raised.value}")

    # Then neither token appears anywhere, and logged URLs carry no signature
    everything = "\n".join([*seen, log_lines.text, capsys.readouterr().out])
    assert "banned" in everything  # the failure text did come through
    for secret in (INITIAL_TOKEN, ROTATED_TOKEN):
        assert secret not in everything
    assert SIGNATURE not in log_lines.text
    assert "X-Amz-Signature=REDACTED" in log_lines.text
