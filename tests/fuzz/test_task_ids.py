"""Arbitrary task ids through every front door: the right answer for the id, and upstream only for it.

A valid id (the README's rule) gets exactly its own aggregator requests and the answer its task
calls for; anything else gets 400 ``invalid_task_id`` (``InvalidTaskIdError`` on direct invoke) and
nothing is sent upstream. Every call feeds the leak watch.
"""

from __future__ import annotations

from typing import Any, Final

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import LeakWatch, load_event
from tests.fuzz.conftest import (
    FUZZ_SETTINGS,
    Call,
    Handle,
    assert_no_fault_of_ours,
    assert_upstream_only_for,
    call,
)
from tests.surface.backends import (
    TASK_ID_RULE,
    OutcomeAggregator,
    check_answer,
    check_direct_answer,
    expected,
    ids_with,
    upstream_paths,
)

HTTP_DOORS: Final = (
    "http_api_get.json",
    "http_api_get_json.json",
    "http_api_get_format_json.json",
    "http_api_head.json",
    "rest_api_get.json",
    "function_url_get.json",
)
JSON_DOORS: Final = frozenset({"http_api_get_json.json", "http_api_get_format_json.json"})

valid_ids = st.from_regex(TASK_ID_RULE, fullmatch=True)
# One character the rule refuses, put anywhere in a valid id: the ids most likely to slip through.
near_misses = st.builds(
    lambda task_id, at, bad: task_id[:at] + bad + task_id[at:],
    valid_ids,
    st.integers(0, 128),
    st.sampled_from(
        [*"./\\%?#&;:@ \t\r\n\x00\x7f'\"<>~+=,", "é", "٣", "\u2028", "\ufeff", "%2F", "%0D%0A", ".."]
    ),
)
task_ids = st.one_of(
    valid_ids,
    near_misses,
    st.text(max_size=160),
    st.text(alphabet="abc-_019", min_size=129, max_size=400),  # too long, or a leading '-' / '_'
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def event_for(door: str, task_id: str) -> Any:
    return {"task_id": task_id} if door == "direct" else load_event(door, task_id)


def assert_right_answer(aggregator: OutcomeAggregator, result: Call, door: str, task_id: str) -> None:
    valid = TASK_ID_RULE.fullmatch(task_id) is not None
    if not valid:
        assert result.upstream == (), f"an invalid id went upstream: {result.upstream}"
    else:
        assert [r.path for r in result.upstream] == upstream_paths(task_id)
    if door == "direct":
        if not valid:
            assert type(result.error).__name__ == "InvalidTaskIdError", repr(result.error)
        else:
            error = None if result.error is None else type(result.error).__name__
            assert check_direct_answer(aggregator, task_id, result.response, error) == [], repr(result.error)
        return
    assert result.error is None, repr(result.error)
    assert result.status is not None, result.response
    want = expected(aggregator, task_id, valid=valid, as_json=door in JSON_DOORS)
    headers = {name.lower(): value for name, value in result.headers()}
    assert (
        check_answer(aggregator, want, task_id, result.status, headers, result.response.get("body") or "")
        == []
    )


@settings(FUZZ_SETTINGS, max_examples=1000)
@given(task_id=task_ids, door=st.sampled_from(("direct", *HTTP_DOORS)))
@example(task_id="a\r\nSet-Cookie: x=1", door="http_api_get.json")
@example(task_id="../../admin", door="rest_api_get.json")
@example(task_id="x" * 128, door="function_url_get.json")
def test_any_task_id_gets_its_own_answer_and_only_its_own_upstream_path(
    handle: Handle, aggregator: OutcomeAggregator, leak_watch: LeakWatch, task_id: str, door: str
) -> None:
    result = call(handle, aggregator, event_for(door, task_id), leak_watch)

    assert_no_fault_of_ours(result)
    assert_right_answer(aggregator, result, door, task_id)


@settings(FUZZ_SETTINGS, max_examples=200)
@given(
    task_id=valid_ids,
    # Keys API Gateway events carry, too: a direct invoke is told apart by task_id alone.
    extra=st.dictionaries(
        st.sampled_from(["version", "rawPath", "path", "httpMethod", "headers", "body", "input", "execution"])
        | st.text(max_size=12).filter(lambda key: key not in ("task_id", "requestContext")),
        json_values,
        max_size=5,
    ),
)
def test_direct_invoke_ignores_other_keys(
    handle: Handle, aggregator: OutcomeAggregator, leak_watch: LeakWatch, task_id: str, extra: dict[str, Any]
) -> None:
    # Given a Step Functions state's whole input, as the README invites
    event = {**extra, "task_id": task_id}

    result = call(handle, aggregator, event, leak_watch)

    # Then it is answered exactly as {"task_id": ...} alone would be
    assert_no_fault_of_ours(result)
    assert_upstream_only_for(result, {task_id})
    assert_right_answer(aggregator, result, "direct", task_id)


def test_direct_invoke_ignores_a_null_request_context(
    handle: Handle, aggregator: OutcomeAggregator, leak_watch: LeakWatch
) -> None:
    task_id = ids_with("completed", 1, "state-input")[0]

    result = call(handle, aggregator, {"task_id": task_id, "requestContext": None}, leak_watch)

    assert result.error is None, repr(result.error)
    assert result.response["task_id"] == task_id
    assert result.response["url"] == aggregator.url_for(task_id)
