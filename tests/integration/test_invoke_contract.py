"""The published direct-invoke contract (``docs/schemas/``) holds for every event in ``events/`` and for
what the handler really returns: an input is valid exactly when the function accepts it, and every
answer conforms to the output schema's shape for it."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import pytest
from jsonschema import Draft202012Validator

from local.aggregator import Aggregator, FakeTask
from local.lambda_context import LocalLambdaContext
from luma_download.errors import InvalidRequestError, VideoNotReadyError
from luma_download.front_doors.event_shapes import front_door
from tests.conftest import EVENT_TASK_ID, EVENTS_DIR, load_event
from tests.integration.conftest import ArchiveRig, completed_with_file

SCHEMAS: Final = Path(__file__).resolve().parents[2] / "docs" / "schemas"
INPUT: Final = json.loads((SCHEMAS / "invoke-input.schema.json").read_text())
OUTPUT: Final = json.loads((SCHEMAS / "invoke-output.schema.json").read_text())
EVENTS: Final = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
# Events that are not direct invokes: requests through API Gateway or a Function URL, and SQS jobs.
HTTP_DOORS: Final = frozenset({"http_api", "rest_api", "function_url", "sqs"})


def validator(schema: dict[str, Any], shape: str | None = None) -> Draft202012Validator:
    """The whole schema, or only one of its shapes (``$defs``), e.g. ``batch``."""
    if shape is not None:
        schema = {**schema, "oneOf": [{"$ref": f"#/$defs/{shape}"}]}
    return Draft202012Validator(schema)


def errors_of(schema: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in schema.iter_errors(instance)]


def test_the_schemas_are_valid_json_schemas() -> None:
    Draft202012Validator.check_schema(INPUT)
    Draft202012Validator.check_schema(OUTPUT)


# An archived copy's document, as the contract shapes it.
ARCHIVED = {
    "task_id": "a",
    "url": "https://archive.s3.amazonaws.com/luma/a.mp4",
    "expires_at": "2026-11-24T15:03:15Z",
    "source": "archive",
    "s3_uri": "s3://archive/luma/a.mp4",
    "size": 58_000,
}


def named_ids(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return []
    ids = event.get("task_ids") if isinstance(event.get("task_ids"), list) else [event.get("task_id")]
    return [i for i in ids if isinstance(i, str)]


def invoke(archive_rig: ArchiveRig, event: Any) -> Any:
    """The handler with its archive on, so ``archive: true`` is served."""
    return archive_rig.handle(event, LocalLambdaContext())


def expected_shape(event: dict[str, Any]) -> str:
    if "task_ids" in event:
        return "batch"
    return "archived" if event.get("archive") is True else "link"


@pytest.mark.parametrize("name", EVENTS)
def test_each_event_is_valid_input_exactly_when_the_function_accepts_it(
    archive_rig: ArchiveRig, aggregator: Aggregator, name: str
) -> None:
    event = load_event(name)
    valid = validator(INPUT).is_valid(event)
    if front_door(event) in HTTP_DOORS:
        assert not valid  # a request through API Gateway or a Function URL is not a direct invoke
        return
    for task_id in named_ids(event):
        completed_with_file(aggregator, task_id)

    try:
        answer, accepted = invoke(archive_rig, event), True
    except InvalidRequestError:
        answer, accepted = None, False

    assert valid == accepted, errors_of(validator(INPUT), event)
    if accepted:
        assert errors_of(validator(OUTPUT, expected_shape(event)), answer) == []
        assert errors_of(validator(OUTPUT), answer) == []


def test_the_events_cover_every_input_shape_and_a_rejected_one() -> None:
    events = [load_event(name) for name in EVENTS]
    direct = [e for e in events if front_door(e) not in HTTP_DOORS]
    for shape in ("single", "batch"):
        assert any(validator(INPUT, shape).is_valid(e) for e in direct), shape
    assert any(validator(INPUT).is_valid(e) and e.get("archive") is True for e in direct)
    assert any(not validator(INPUT).is_valid(e) and "task_ids" in e for e in direct)
    assert any(not validator(INPUT).is_valid(e) for e in direct if "task_ids" not in e)


@pytest.mark.parametrize(
    "event",
    [
        {"task_id": "abc"},
        {"task_id": "a" * 128},
        {"task_id": "a" * 129},
        {"task_id": "abc\n"},
        {"task_id": "-abc"},
        {"task_id": ""},
        {"task_id": 7},
        {"task_id": "abc", "archive": True},
        {"task_id": "abc", "archive": False, "anything": {"else": 1}},
        {"task_id": "abc", "archive": "true"},
        {"task_id": "abc", "requestContext": None},
        {"task_ids": ["abc"]},
        {"task_ids": ["abc", "bad id", ""]},
        {"task_ids": [f"id-{n}" for n in range(50)]},
        {"task_ids": [f"id-{n}" for n in range(51)]},
        {"task_ids": []},
        {"task_ids": ["abc", 1]},
        {"task_ids": "abc"},
        {"task_ids": ["abc"], "task_id": "abc"},
        {"task_ids": ["abc"], "archive": True},
        {"task_ids": ["abc"], "archive": None},
        {"taskId": "abc"},
        [],
        "abc",
        None,
    ],
)
def test_hand_made_inputs_are_valid_exactly_when_the_function_accepts_them(
    archive_rig: ArchiveRig, aggregator: Aggregator, event: Any
) -> None:
    for task_id in named_ids(event):
        aggregator.tasks[task_id] = FakeTask(state="processing")

    try:
        invoke(archive_rig, event)
        accepted = True
    except InvalidRequestError:
        accepted = False
    except VideoNotReadyError:  # a well-formed request for a task not ready: raised as the contract says
        accepted = True

    assert validator(INPUT).is_valid(event) == accepted, errors_of(validator(INPUT), event)


def test_what_the_handler_returns_conforms_to_the_output_schema(
    function: ModuleType, archive_rig: ArchiveRig, aggregator: Aggregator
) -> None:
    completed_with_file(aggregator, EVENT_TASK_ID)
    aggregator.tasks["waiting"] = FakeTask(state="processing")
    aggregator.tasks["failed"] = FakeTask(state="failed", failure_reason="nsfw")
    ids = [EVENT_TASK_ID, "waiting", "failed", "unknown", "bad id", EVENT_TASK_ID]

    answers = {
        "link": function.lambda_handler({"task_id": EVENT_TASK_ID}, LocalLambdaContext()),
        "batch": function.lambda_handler({"task_ids": ids}, LocalLambdaContext()),
        "archived": invoke(archive_rig, {"task_id": EVENT_TASK_ID, "archive": True}),
        "archived batch": invoke(
            archive_rig, {"task_ids": [EVENT_TASK_ID, "waiting", "gone"], "archive": True}
        ),
    }

    for kind, answer in answers.items():
        shape = "batch" if "batch" in kind else kind
        assert errors_of(validator(OUTPUT, shape), answer) == [], kind
        assert errors_of(validator(OUTPUT), answer) == [], kind
    codes = {
        e["error"]["code"]
        for e in answers["batch"]["results"] + answers["archived batch"]["results"]
        if "error" in e
    }
    assert codes == {"video_not_ready", "task_failed", "task_not_found", "invalid_task_id"}


@pytest.mark.parametrize(
    ("shape", "answer"),
    [
        ("link", {"task_id": "a", "url": "https://x.example/v.mp4", "expires_at": None, "extra": 1}),
        ("link", {"task_id": "a", "url": "https://x.example/v.mp4", "expires_at": "tomorrow"}),
        ("link", {"task_id": "a", "url": "https://x.example/v.mp4"}),
        ("archived", {**ARCHIVED, "size": -1}),
        ("archived", {**ARCHIVED, "source": "aggregator"}),
        ("batch", {"count": 1, "ok": 1, "failed": 0, "results": []}),
        (
            "batch",
            {
                "count": 1,
                "ok": 0,
                "failed": 1,
                "results": [
                    {"task_id": "a", "error": {"code": "task_failed", "message": "", "type": "UpstreamError"}}
                ],
            },
        ),
        (
            "batch",
            {
                "count": 1,
                "ok": 1,
                "failed": 0,
                "results": [{"task_id": "a", "url": "https://x.example/v.mp4", "expires_at": None}],
            },
        ),
    ],
    ids=[
        "unknown-key",
        "bad-expiry",
        "no-expiry",
        "negative-size",
        "wrong-source",
        "no-entries",
        "code-type-mismatch",
        "entry-without-source",
    ],
)
def test_the_output_schema_refuses_what_the_contract_does_not_allow(shape: str, answer: Any) -> None:
    """The schema is strict enough to see a broken answer (so the checks above could fail)."""
    assert not validator(OUTPUT, shape).is_valid(answer)
