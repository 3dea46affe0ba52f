"""Every event in events/, mutated: keys missing or not strings, values of the wrong type, ``None``,
huge values.

Whatever arrives, the function answers with a 2xx/3xx/4xx or raises one of its own 4xx errors
(``InvalidRequestError`` and kin), never anything else and never a 5xx (the aggregator here is
well-behaved, so any fault is the caller's); it calls the aggregator only for the id the event names,
never for one outside the pattern; and a 302 goes to that id's own link. An event with a key that
is not a string (which JSON cannot hold, but a Python caller can send) is refused whole, whichever
front door it imitates: ``InvalidRequestError``, nothing sent upstream.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any, Final

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from luma_download.errors import InvalidRequestError
from tests.conftest import EVENT_TASK_ID, EVENTS_DIR, LeakWatch, load_event
from tests.fuzz.conftest import (
    FUZZ_SETTINGS,
    Call,
    Handle,
    assert_no_fault_of_ours,
    assert_upstream_only_for,
    call,
)
from tests.surface.backends import TASK_ID_RULE, OutcomeAggregator, ids_with, outcome_of, upstream_paths

EVENTS: Final = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
ROUTE_PATH: Final = re.compile(r"/luma/generations/(?P<task_id>.*)/download_video_url", re.DOTALL)
# Where defect 10 lives: the header and query parameter maps of an HTTP-shaped event.
HEADER_AND_QUERY_KEYS: Final = frozenset(
    {"headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"}
)

# The events' own id (its task is completed) and one id for each other outcome, so that every
# branch after the aggregator's answer (the redirect, the JSON choice, each error) meets the mutations.
EVENT_IDS: Final = (
    EVENT_TASK_ID,
    *(ids_with(outcome, 1, "event")[0] for outcome in ("processing", "failed", "unknown")),
)

Location = tuple[str | int, ...]

huge_values = st.sampled_from(
    [
        "A" * 300_000,
        "/luma/generations/" + "a" * 200_000 + "/download_video_url",
        ["x"] * 20_000,
        {f"k{n}": "v" for n in range(5_000)},
        10**400,
    ]
)
other_values: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8) | st.integers(), max_size=3),
)


# What a Python caller can use as a key and JSON never does: an int, None, a bool, a tuple, a float.
wrong_keys: st.SearchStrategy[Any] = st.one_of(
    st.integers(),
    st.none(),
    st.booleans(),
    st.tuples(st.integers(), st.text(max_size=8)),
    st.floats(allow_nan=False),
)


def locations(value: Any, here: Location = ()) -> Iterator[Location]:
    """Every place in a JSON document, the root included."""
    yield here
    if isinstance(value, dict):
        for key, item in value.items():
            yield from locations(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from locations(item, (*here, index))


def apply(event: Any, where: Location, change: str, value: Any) -> Any:
    """``event`` with the thing at ``where`` deleted (``change == "delete"``) or replaced by ``value``."""
    if not where:
        return None if change == "delete" else value
    parent = event
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    if change == "delete":
        del parent[last]
    else:
        parent[last] = value
    return event


def rekey(event: Any, where: Location, key: Any, *, replacing: bool, index: int) -> str:
    """Rename a key of the object at ``where`` to ``key``, or insert ``key`` there, at ``index`` (in
    place, so a search by name meets it where it stands); says what it did. An inserted key takes a
    neighbour's value: a map of strings keeps only strings, so only its key is wrong."""
    node = at(event, where)
    items = list(node.items())
    if replacing and items:
        index %= len(items)
        done = f"renamed {items[index][0]!r} to {key!r}"
        items[index] = (key, items[index][1])
    else:
        index %= len(items) + 1
        value = copy.deepcopy(items[min(index, len(items) - 1)][1]) if items else "x"
        items.insert(index, (key, value))
        done = f"inserted {key!r} at {index}"
    node.clear()
    node.update(items)
    return done


def deep(depth: int) -> Any:
    nested: Any = "bottom"
    for _ in range(depth):
        nested = {"a": [nested]}
    return nested


@st.composite
def mutated(draw: st.DrawFn, name: str, *, in_header_or_query: bool) -> tuple[Any, list[str]]:
    """An event from events/ with one to three changes, each anywhere in it (or, for the defect-10
    test, only inside its header and query parameter maps); also says what was changed."""
    event: Any = copy.deepcopy(load_event(name, draw(st.sampled_from(EVENT_IDS))))
    # The original event's places only: a later change inside an earlier change's junk proves nothing.
    places = [where for where in locations(event) if in_header_or_query == _in_header_or_query(where)]
    changes: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(places))
        if not resolves(event, where):
            continue  # an earlier change removed it
        kinds = ["delete", "none", "retype", "huge", "deep"] if where else ["retype"]
        change = draw(st.sampled_from([*kinds, "rekey"] if isinstance(at(event, where), dict) else kinds))
        place = "/".join(map(str, where)) or "<root>"
        if change == "rekey":
            changes.append(f"{place}: {draw_rekey(draw, event, where)}")
            continue
        value: Any = None  # for "delete" and "none"
        if change == "retype":
            value = draw(other_values)
        elif change == "huge":
            value = copy.deepcopy(draw(huge_values))  # sampled values are shared between examples
        elif change == "deep":
            value = deep(200)
        event = apply(event, where, change, value)
        changes.append(f"{change} {place}")
    return event, changes


def draw_rekey(draw: st.DrawFn, event: Any, where: Location) -> str:
    key = draw(wrong_keys)
    return rekey(event, where, key, replacing=draw(st.booleans()), index=draw(st.integers(0, 50)))


@st.composite
def rekeyed(draw: st.DrawFn, name: str) -> tuple[Any, list[str]]:
    """An event from events/ with one to three of its objects (its root included) given a key that is
    not a string, in place of one of theirs or beside them; also says what was changed."""
    event: Any = copy.deepcopy(load_event(name, draw(st.sampled_from(EVENT_IDS))))
    places = [where for where in locations(event) if isinstance(at(event, where), dict)]
    changes: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(places))
        if resolves(event, where):  # not when an earlier change renamed a key on its way
            changes.append(f"{'/'.join(map(str, where)) or '<root>'}: {draw_rekey(draw, event, where)}")
    return event, changes


def at(event: Any, where: Location) -> Any:
    for step in where:
        event = event[step]
    return event


def resolves(event: Any, where: Location) -> bool:
    node = event
    for step in where:
        if isinstance(node, dict) and step in node:
            node = node[step]
            continue
        if not (isinstance(node, list) and isinstance(step, int) and step < len(node)):
            return False
        node = node[step]
    return True


def _in_header_or_query(where: Location) -> bool:
    return bool(where) and where[0] in HEADER_AND_QUERY_KEYS


def meant_ids(event: Any) -> set[str]:
    """The ids the event names: a direct invoke's ``task_id`` or ``task_ids``, or the one in the path
    API Gateway routes."""
    if not isinstance(event, dict):
        return set()
    ids = {event["task_id"]} if isinstance(event.get("task_id"), str) else set()
    if isinstance(event.get("task_ids"), list):
        ids |= {item for item in event["task_ids"] if isinstance(item, str)}
    for key in ("rawPath", "path"):
        match = ROUTE_PATH.fullmatch(event[key]) if isinstance(event.get(key), str) else None
        if match:
            ids.add(match["task_id"])
    return ids


# What a batch entry may fail with when the aggregator is well-behaved: the id's own fault, or its task's.
CALLER_CODES: Final = frozenset({"invalid_task_id", "task_not_found", "video_not_ready", "task_failed"})


def assert_contract(aggregator: OutcomeAggregator, result: Call) -> None:
    assert_no_fault_of_ours(result)
    meant = meant_ids(result.event)
    if isinstance(result.response, dict) and "results" in result.response:
        assert_batch(aggregator, result, meant)
        return
    assert_upstream_only_for(result, meant)
    if result.status == 302:
        assert result.header("Location") in {aggregator.url_for(i) for i in meant}, result.response
    answer = result.response
    if (
        result.status is None
        and result.error is None
        and isinstance(answer, dict)
        and "batchItemFailures" in answer
    ):
        # An SQS batch (archive jobs; the archive is off here): only its own messages are named.
        sent = {record["messageId"] for record in result.event["Records"]}
        assert {item["itemIdentifier"] for item in answer["batchItemFailures"]} <= sent
        return
    if result.status is None and result.error is None:
        assert isinstance(result.response, dict), result.response
        assert result.response.get("task_id") in meant, result.response
        assert result.response["url"] == aggregator.url_for(result.response["task_id"])


def assert_batch(aggregator: OutcomeAggregator, result: Call, meant: set[str]) -> None:
    """A batch's answer: an entry per id in the list, each with its own link or a caller's-fault error,
    and upstream exactly each valid distinct id's requests (in any order between ids)."""
    ids = result.event["task_ids"]
    entries = result.response["results"]
    assert [entry["task_id"] for entry in entries] == ids
    for entry in entries:
        if "error" in entry:
            assert entry["error"]["code"] in CALLER_CODES, entry
        else:
            assert entry["url"] == aggregator.url_for(entry["task_id"]), entry
    expected = sorted(path for i in meant if TASK_ID_RULE.fullmatch(i) for path in upstream_paths(i))
    assert sorted(request.path for request in result.upstream) == expected


@pytest.mark.parametrize("name", EVENTS)
@settings(FUZZ_SETTINGS, max_examples=80)
@given(data=st.data())
def test_mutated_events_get_a_4xx_at_worst_and_go_upstream_only_for_their_id(
    handle: Handle, aggregator: OutcomeAggregator, leak_watch: LeakWatch, name: str, data: st.DataObject
) -> None:
    called(handle, aggregator, leak_watch, data, mutated(name, in_header_or_query=False))


def called(
    handle: Handle,
    aggregator: OutcomeAggregator,
    leak_watch: LeakWatch,
    data: st.DataObject,
    events: st.SearchStrategy[tuple[Any, list[str]]],
) -> Call:
    """One event drawn from ``events``, through the function, held to the contract."""
    event, changes = data.draw(events, label="event")
    data.draw(st.just(changes), label="changes")  # printed with a failing example

    result = call(handle, aggregator, event, leak_watch)

    assert_contract(aggregator, result)
    return result


HTTP_EVENTS: Final = [
    name for name in EVENTS if any(key in load_event(name) for key in HEADER_AND_QUERY_KEYS)
]


def _completed(name: str, **changes: Any) -> tuple[Any, list[str]]:
    """``name`` (its task is completed: the answer reads the headers and query), with ``changes``."""
    return {**load_event(name), **changes}, [f"set {key}" for key in changes]


@settings(FUZZ_SETTINGS, max_examples=300)
@given(case=st.sampled_from(HTTP_EVENTS).flatmap(lambda name: mutated(name, in_header_or_query=True)))
# The defect's own cases, run first, so this fails the same way every run until it is fixed.
@example(case=_completed("http_api_get.json", headers=["accept", "*/*"]))  # ValueError
@example(case=_completed("function_url_get.json", headers={"accept": ["application/json"]}))  # 500
@example(case=_completed("rest_api_get.json", queryStringParameters=["format", "json"]))  # 500
# Issue 16 defect 2: a header named by an int, met before Accept (500 internal_error)
@example(
    case=_completed("rest_api_get.json", headers={1: "*/*", **load_event("rest_api_get.json")["headers"]})
)
def test_mutated_header_and_query_maps_get_a_4xx_at_worst(
    handle: Handle, aggregator: OutcomeAggregator, leak_watch: LeakWatch, case: tuple[Any, list[str]]
) -> None:
    event, _changes = case

    result = call(handle, aggregator, event, leak_watch)

    assert_contract(aggregator, result)


@pytest.mark.parametrize("name", EVENTS)
@settings(FUZZ_SETTINGS, max_examples=25)
@given(data=st.data())
def test_an_event_with_a_key_that_is_not_a_string_is_refused_whole(
    handle: Handle, aggregator: OutcomeAggregator, leak_watch: LeakWatch, name: str, data: st.DataObject
) -> None:
    result = called(handle, aggregator, leak_watch, data, rekeyed(name))

    assert isinstance(result.error, InvalidRequestError), (result.error, result.status)
    assert result.upstream == ()


def test_the_mutation_helpers_see_every_place_and_the_id_meant() -> None:
    """The fuzzing above can pick any place of an event, and knows which id an event names."""
    event = load_event("rest_api_get.json")
    places = set(locations(event))
    assert ("requestContext", "identity", "sourceIp") in places
    assert ("multiValueHeaders", "Accept", 0) in places
    assert () in places
    assert meant_ids(event) == {EVENT_TASK_ID}
    assert outcome_of(EVENT_TASK_ID) == "completed"
    assert meant_ids(apply(copy.deepcopy(event), ("path",), "retype", 7)) == set()
    assert TASK_ID_RULE.fullmatch(EVENT_TASK_ID)
    # A key renamed or inserted keeps its place among the others, and an inserted one a neighbour's value.
    headers = ("multiValueHeaders",)
    assert rekey(event, headers, 7, replacing=True, index=0) == "renamed 'Accept' to 7"
    assert rekey(event, headers, None, replacing=False, index=1) == "inserted None at 1"
    assert list(event["multiValueHeaders"])[:3] == [7, None, "Host"]
    assert event["multiValueHeaders"][None] == event["multiValueHeaders"]["Host"]
    assert at(event, headers) is event["multiValueHeaders"]
