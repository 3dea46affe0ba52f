"""Issue 16 defect 2: an event whose maps have a key that is not a string is refused as not understood.

JSON objects, which are all Lambda hands over, have string keys; a hand-made or SDK invoke from
Python need not. Through the real handler (moto's Secrets Manager, the loopback aggregator knowing
the task as completed), such an event is ``InvalidRequestError`` (400 ``invalid_request``) before
anything is resolved, whichever front door it imitates and whichever map holds the key.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator
from local.lambda_context import LocalLambdaContext
from luma_download import errors
from tests.conftest import EVENT_TASK_ID, LogLines
from tests.integration.conftest import completed

WRONG_KEYS = [1, None, False, (1, "Accept"), 2.5]


def first(mapping: dict[Any, Any], key: object, value: object) -> None:
    """Put ``key`` first in ``mapping`` (in place), where a search by name meets it before any other."""
    items = {key: value, **mapping}
    mapping.clear()
    mapping.update(items)


def assert_refused(function: ModuleType, aggregator: Aggregator, log_lines: LogLines, event: Any) -> None:
    with pytest.raises(errors.InvalidRequestError) as raised:
        function.lambda_handler(event, LocalLambdaContext())

    assert (raised.value.status, raised.value.code) == (400, "invalid_request")
    assert "with string keys throughout" in raised.value.message  # what a direct caller must fix
    assert aggregator.requests == []  # nothing was resolved
    line = log_lines.last("request done")
    assert (line["front_door"], line["error_type"]) == ("unknown", "InvalidRequestError")


@pytest.mark.parametrize("key", WRONG_KEYS, ids=repr)
def test_a_rest_api_header_named_by_a_non_string_is_a_400_not_a_500(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    key: object,
) -> None:
    # Given a completed task, and the REST API sample event with a header whose name is not a string
    # (before the fix: 500 internal_error, from the search for Accept whatever its case)
    completed(aggregator, EVENT_TASK_ID)
    rest = event("rest_api_get.json")
    first(rest["headers"], key, "application/json")

    assert_refused(function, aggregator, log_lines, rest)


@pytest.mark.parametrize(
    ("name", "where", "value"),
    [
        ("rest_api_get.json", ("multiValueHeaders",), ["*/*"]),
        ("rest_api_get.json", ("pathParameters",), EVENT_TASK_ID),
        ("rest_api_get.json", ("requestContext", "identity"), "203.0.113.7"),
        ("http_api_get.json", ("requestContext",), "x"),
        ("http_api_get.json", ("requestContext", "http"), "GET"),
        ("http_api_get.json", ("pathParameters",), EVENT_TASK_ID),
        ("function_url_get.json", ("requestContext",), "x"),
        ("function_url_get.json", (), "x"),
        ("direct_invoke.json", (), EVENT_TASK_ID),
        ("batch_direct_invoke.json", (), [EVENT_TASK_ID]),
    ],
    ids=lambda part: "/".join(part) if isinstance(part, tuple) else None,
)
def test_a_non_string_key_in_any_map_of_any_door_is_refused(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    name: str,
    where: tuple[str, ...],
    value: object,
) -> None:
    # Given a completed task, which each of these events would otherwise resolve (before the fix: it did)
    completed(aggregator, EVENT_TASK_ID)
    sample = event(name)
    target = sample
    for step in where:
        target = target[step]
    first(target, 7, value)

    assert_refused(function, aggregator, log_lines, sample)
