"""Each front door, driven by the events in events/, answers in the shape that door really returns."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator
from local.lambda_context import LocalLambdaContext
from tests.integration.conftest import completed

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"


def test_http_api_get_redirects_to_the_presigned_url(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
) -> None:
    # Given a completed task whose link was signed just now for an hour
    url = completed(aggregator, TASK)

    # When a browser asks through the HTTP API
    response = function.lambda_handler(event("http_api_get.json"), lambda_context)

    # Then it gets a 302 to that exact URL, cacheable privately until 5 minutes before it dies
    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == url
    max_age = int(response["headers"]["Cache-Control"].removeprefix("private, max-age="))
    assert 3300 - 60 <= max_age <= 3300
    assert response["body"] == ""


def test_rest_api_answers_with_multi_value_headers(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
) -> None:
    url = completed(aggregator, TASK)

    response = function.lambda_handler(event("rest_api_get.json"), lambda_context)

    assert response["statusCode"] == 302
    assert response["multiValueHeaders"]["Location"] == [url]
    assert response["multiValueHeaders"]["Cache-Control"][0].startswith("private, max-age=")
    assert "headers" not in response or "Location" not in (response.get("headers") or {})


def test_function_url_routes_on_the_raw_path(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
) -> None:
    # Given a Function URL event, which carries no pathParameters
    url = completed(aggregator, TASK)
    function_url_event = event("function_url_get.json")
    assert "pathParameters" not in function_url_event

    response = function.lambda_handler(function_url_event, lambda_context)

    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == url


def test_head_answers_like_get_without_a_body(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
) -> None:
    url = completed(aggregator, TASK)

    response = function.lambda_handler(event("http_api_head.json"), lambda_context)

    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == url
    assert not response["body"]


@pytest.mark.parametrize("event_name", ["http_api_get_json.json", "http_api_get_format_json.json"])
def test_json_is_served_on_request(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
    event_name: str,
) -> None:
    # Given a client that sends Accept: application/json (or ?format=json)
    url = completed(aggregator, TASK)

    response = function.lambda_handler(event(event_name), lambda_context)

    # Then it gets the workflow document instead of a redirect
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    document = json.loads(response["body"])
    assert document["task_id"] == TASK
    assert document["url"] == url
    assert document["expires_at"].endswith("Z")
    assert "Location" not in response["headers"]


def test_unknown_expiry_is_not_cached_by_clients(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
) -> None:
    completed(aggregator, TASK, url="https://media.cdn-luma.com/videos/clip.mp4")

    response = function.lambda_handler(event("http_api_get.json"), lambda_context)

    assert response["statusCode"] == 302
    assert response["headers"]["Cache-Control"] == "no-store"


def test_other_methods_get_405_with_allow(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
) -> None:
    response = function.lambda_handler(event("http_api_post.json"), lambda_context)

    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET, HEAD"
    assert json.loads(response["body"])["error"]["code"] == "method_not_allowed"
    assert aggregator.requests == []


def test_other_paths_get_a_json_404(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
) -> None:
    stray = event("http_api_get.json")
    stray["rawPath"] = stray["requestContext"]["http"]["path"] = "/admin"

    response = function.lambda_handler(stray, lambda_context)

    assert response["statusCode"] == 404
    body = json.loads(response["body"])
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"] == "Cf3nPjRNoAMEV4g="
    assert aggregator.requests == []


@pytest.mark.parametrize(
    ("event_name", "status"),
    [("http_api_get.json", 302), ("http_api_get_json.json", 200), ("http_api_head.json", 302)],
)
def test_both_representations_vary_on_accept(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    lambda_context: LocalLambdaContext,
    event_name: str,
    status: int,
) -> None:
    # Given one URL that answers a redirect or a JSON document depending on Accept
    completed(aggregator, TASK)

    response = function.lambda_handler(event(event_name), lambda_context)

    # Then a shared or browser cache is told to key its copy on Accept
    assert response["statusCode"] == status
    assert response["headers"]["Cache-Control"].startswith("private, max-age=")
    assert response["headers"]["Vary"] == "Accept"
