"""Every event in events/ is recognised as the front door it models, and parses as AWS sends it."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    APIGatewayProxyEvent,
    APIGatewayProxyEventV2,
    LambdaFunctionUrlEvent,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from luma_download.front_doors.event_shapes import front_door, has_string_keys, walk_has_string_keys
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
        ("rest_api_get.json", "stageVariables", {"env": 1}),
        ("http_api_get.json", "cookies", ["a=b", None]),
        ("http_api_get.json", "cookies", "a=b"),
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


# Every kind of key a Python caller can put in a dict and JSON never does.
WRONG_KEYS = [1, None, True, (1, "accept"), 1.5]
# Every map of every front door: the maps of its sample event (its root included) and the ones API
# Gateway sends in other requests (an authorizer's claims, stage variables, query strings).
MAPS = [
    ("http_api_get.json", ()),
    ("http_api_get.json", ("headers",)),
    ("http_api_get.json", ("pathParameters",)),
    ("http_api_get.json", ("requestContext",)),
    ("http_api_get.json", ("requestContext", "http")),
    ("http_api_get_format_json.json", ("queryStringParameters",)),
    ("rest_api_get.json", ()),
    ("rest_api_get.json", ("headers",)),
    ("rest_api_get.json", ("multiValueHeaders",)),
    ("rest_api_get.json", ("pathParameters",)),
    ("rest_api_get.json", ("requestContext",)),
    ("rest_api_get.json", ("requestContext", "identity")),
    ("function_url_get.json", ()),
    ("function_url_get.json", ("headers",)),
    ("function_url_get.json", ("requestContext",)),
    ("function_url_get.json", ("requestContext", "http")),
    ("direct_invoke.json", ()),
    ("step_functions_batch_payload.json", ()),
    ("step_functions_batch_payload.json", ("export",)),
    ("sqs_archive_job.json", ()),
    ("sqs_archive_job.json", ("Records", 0)),
    ("sqs_archive_job.json", ("Records", 0, "attributes")),
]
ADDED_MAPS: dict[str, dict[str, Any]] = {
    "queryStringParameters": {"format": "json"},
    "multiValueQueryStringParameters": {"format": ["json"]},
    "stageVariables": {"env": "prod"},
}


def map_at(event: Any, where: tuple[str | int, ...]) -> dict[Any, Any]:
    for step in where:
        event = event[step]
    assert isinstance(event, dict)
    return event


@pytest.mark.parametrize("key", WRONG_KEYS, ids=repr)
@pytest.mark.parametrize(("name", "where"), MAPS, ids=lambda place: "/".join(map(str, place)) or "root")
def test_a_key_that_is_not_a_string_in_any_map_makes_the_event_unknown(
    name: str, where: tuple[str | int, ...], key: object
) -> None:
    event = load_event(name)
    assert front_door(event) != "unknown"
    target = map_at(event, where)

    # Inserted first, where a lookup by name meets it before any real key, with a value like theirs
    first = {key: next(iter(target.values())), **target}
    target.clear()
    target.update(first)

    assert front_door(event) == "unknown"


@pytest.mark.parametrize("key", WRONG_KEYS, ids=repr)
@pytest.mark.parametrize("name", ["http_api_get.json", "rest_api_get.json", "function_url_get.json"])
def test_a_renamed_key_makes_the_event_unknown_and_so_do_the_maps_aws_sends_elsewhere(
    name: str, key: object
) -> None:
    event = load_event(name)
    # A header renamed in place: the map keeps its size and its value
    headers = map_at(event, ("headers",))
    first = next(iter(headers))
    renamed = {(key if header == first else header): value for header, value in headers.items()}
    assert front_door({**event, "headers": renamed}) == "unknown"
    # The maps this sample lacks, as other requests carry them, and an authorizer's nested claims
    for field, good in ADDED_MAPS.items():
        assert front_door({**event, field: good}) != "unknown", field
        assert front_door({**event, field: {**good, key: next(iter(good.values()))}}) == "unknown", field
    context = event["requestContext"]
    claims: dict[str, Any] = {"authorizer": {"jwt": {"claims": {"sub": "u1"}, "scopes": [{"a": "b"}]}}}
    assert front_door({**event, "requestContext": {**context, **claims}}) != "unknown"
    claims["authorizer"]["jwt"]["scopes"] = [[{key: "b"}]]  # in an array of arrays
    assert front_door({**event, "requestContext": {**context, **claims}}) == "unknown"


def test_a_map_of_another_dict_type_is_unknown_whatever_it_holds() -> None:
    """JSON's objects are ``dict`` itself; the keys of a subclass in a string map are never walked."""

    class Headers(dict[Any, Any]):
        pass

    event = load_event("rest_api_get.json")
    assert front_door({**event, "headers": dict(event["headers"])}) == "rest_api"
    assert front_door({**event, "headers": Headers({1: "x", **event["headers"]})}) == "unknown"


def test_any_depth_is_walked_without_recursion() -> None:
    deep: Any = {"bottom": "x"}
    for _ in range(100_000):
        deep = {"a": [deep]}
    event = {"task_id": "abc", "state": deep}
    assert front_door(event) == "direct"

    bottom = event["state"]
    while "a" in bottom:
        bottom = bottom["a"][0]
    bottom[7] = "x"
    assert front_door(event) == "unknown"


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


@pytest.mark.parametrize(
    "oddity",
    [
        2**70,  # an int past 64 bits, which orjson will not write
        "\ud800",  # a lone surrogate, which is no UTF-8
        float("nan"),
        b"bytes",  # not JSON at all: only keys are this check's business
    ],
    ids=["big int", "lone surrogate", "nan", "bytes"],
)
@pytest.mark.parametrize("name", ["http_api_get.json", "rest_api_get.json", "direct_invoke.json"])
def test_a_value_orjson_refuses_leaves_the_answer_to_the_walk(name: str, oddity: object) -> None:
    event = load_event(name)
    door = front_door(event)
    event["requestContext" if "requestContext" in event else "extra"] = (
        {**event["requestContext"], "oddity": oddity} if "requestContext" in event else {"oddity": oddity}
    )
    assert front_door(event) == door  # string keys throughout: still the door it was

    event["nested"] = [{"oddity": oddity, 7: "x"}]
    assert front_door(event) == "unknown"


@pytest.mark.parametrize("name", ["http_api_get.json", "rest_api_get.json", "function_url_get.json"])
def test_a_large_body_is_left_to_the_walk_with_the_same_answers(name: str) -> None:
    event = {**load_event(name), "body": "x" * 100_000}
    door = front_door(event)
    assert door != "unknown"
    assert front_door({**event, "stageVariables": {"env": "prod", 3: "x"}}) == "unknown"


class StrKey(str):
    """A string subclass: a string, but not what ``json.loads`` makes."""


JSON_KEYS = st.one_of(st.text(max_size=3), st.integers(), st.none(), st.booleans(), st.just(StrKey("k")))
JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.just("\udfff")
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=3),
        st.recursive(
            JSON_LEAVES,
            lambda inner: st.one_of(
                st.lists(inner, max_size=3),
                st.tuples(inner),
                st.dictionaries(JSON_KEYS, inner, max_size=3),
            ),
            max_leaves=12,
        ),
        max_size=4,
    )
)
def test_orjson_s_answer_is_the_walk_s(document: dict[str, object]) -> None:
    """orjson is asked first for speed: its answer, or the walk it falls back to, is always the walk's."""
    assert has_string_keys(document) is walk_has_string_keys(document)
