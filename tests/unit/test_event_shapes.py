"""Every event in events/ is recognised as the front door it models, and parses as AWS sends it."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    APIGatewayProxyEvent,
    APIGatewayProxyEventV2,
    LambdaFunctionUrlEvent,
)

from luma_download.event_shapes import front_door
from tests.conftest import EVENT_TASK_ID, load_event


@pytest.mark.parametrize(
    ("name", "door"),
    [
        ("http_api_get.json", "http_api"),
        ("http_api_head.json", "http_api"),
        ("http_api_get_json.json", "http_api"),
        ("http_api_get_format_json.json", "http_api"),
        ("http_api_post.json", "http_api"),
        ("bad_task_id_http_api.json", "http_api"),
        ("rest_api_get.json", "rest_api"),
        ("bad_task_id_crlf_rest_api.json", "rest_api"),
        ("function_url_get.json", "function_url"),
        ("direct_invoke.json", "direct"),
        ("bad_task_id_direct_invoke.json", "direct"),
        ("batch_direct_invoke.json", "direct"),
        ("step_functions_batch_payload.json", "direct"),
        ("step_functions_archive_payload.json", "direct"),
        ("bad_batch_empty.json", "direct"),
        ("bad_direct_invoke_no_task_id.json", "unknown"),
        ("unsupported_s3_event.json", "unknown"),
        ("sqs_archive_job.json", "sqs"),
    ],
)
def test_each_event_is_recognised(name: str, door: str) -> None:
    assert front_door(load_event(name)) == door


@pytest.mark.parametrize(
    "event",
    [None, [], "GET /", {}, {"requestContext": "x"}, {"version": "2.0", "requestContext": {"http": {}}}],
)
def test_malformed_events_are_unknown(event: object) -> None:
    assert front_door(event) == "unknown"


def test_the_http_events_parse_as_aws_sends_them() -> None:
    v2 = APIGatewayProxyEventV2(load_event("http_api_get.json"))
    assert v2.request_context.http.method == "GET"
    assert v2.path_parameters == {"task_id": EVENT_TASK_ID}

    v1 = APIGatewayProxyEvent(load_event("rest_api_get.json"))
    assert v1.http_method == "GET"
    assert v1.multi_value_headers["Accept"] == ["*/*"]

    url = LambdaFunctionUrlEvent(load_event("function_url_get.json"))
    assert url.request_context.domain_name.endswith(".lambda-url.us-east-1.on.aws")
    assert url.path_parameters is None or url.path_parameters == {}


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("http_api_get.json", "headers", [["accept", "*/*"]]),  # headers as a list
        ("http_api_get.json", "headers", {"accept": 3}),  # a non-string header value
        ("http_api_get.json", "queryStringParameters", [["format", "json"]]),
        ("http_api_get.json", "pathParameters", {"task_id": None}),
        ("rest_api_get.json", "multiValueHeaders", {"Accept": "*/*"}),  # not a list
        ("rest_api_get.json", "multiValueQueryStringParameters", {"format": [1]}),
        ("function_url_get.json", "headers", "accept: */*"),
    ],
)
def test_http_shaped_events_with_wrongly_typed_maps_are_unknown(name: str, key: str, value: object) -> None:
    event = load_event(name)
    assert front_door(event) != "unknown"  # the event as AWS sends it is recognised

    event[key] = value

    assert front_door(event) == "unknown"


@pytest.mark.parametrize("extra", [{"requestContext": None}, {"requestContext": "step functions"}, {"x": 1}])
def test_direct_invoke_ignores_other_keys_unless_they_make_an_api_gateway_request(extra: object) -> None:
    assert isinstance(extra, dict)
    assert front_door({"task_id": "abc", **extra}) == "direct"
    assert front_door({"task_ids": ["abc"], **extra}) == "direct"
    assert front_door({**load_event("http_api_get.json"), "task_id": "abc"}) == "http_api"


def sqs_record(source: str = "aws:sqs", **changes: object) -> dict[str, object]:
    record: dict[str, object] = {"messageId": "m1", "receiptHandle": "r", "body": '{"task_id": "abc"}'}
    return {**record, "eventSource": source, **changes}


def test_an_sqs_batch_is_the_archive_worker_s_door() -> None:
    assert front_door({"Records": [sqs_record(), sqs_record()]}) == "sqs"


@pytest.mark.parametrize(
    "event",
    [
        {"Records": []},
        {"Records": [sqs_record(), sqs_record("aws:s3")]},
        {"Records": "aws:sqs"},
        {"Records": [sqs_record()], "requestContext": {"http": {}}},
        {"Records": [sqs_record(messageId=None)]},
        {"Records": [sqs_record(body={"task_id": "abc"})]},
    ],
)
def test_only_a_batch_wholly_from_sqs_is_one(event: object) -> None:
    assert front_door(event) != "sqs"
