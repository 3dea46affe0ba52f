"""Batches: ``{"task_ids": [...]}`` resolves many ids in one invocation, each id's outcome its own entry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator, FakeTask, Reply
from local.lambda_context import LocalLambdaContext
from luma_download import errors
from luma_download.front_doors.batch import MAX_TASK_IDS, WORKERS
from tests.conftest import LogLines
from tests.integration.conftest import ArchiveRig, completed, completed_with_file

READY, WAITING, FAILED, UNKNOWN, OTHER = (
    "a-ready-1",
    "b-waiting-2",
    "c-failed-3",
    "d-unknown-4",
    "e-unknown-5",
)
BAD = "bad id\r\nX: 1"


def download_path(task_id: str) -> str:
    return f"/luma/generations/{task_id}/download_video_url"


def test_a_batch_answers_each_id_in_input_order_and_resolves_duplicates_once(
    function: ModuleType, aggregator: Aggregator, log_lines: LogLines, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one task of each outcome, an id outside the pattern, and a duplicate
    url = completed(aggregator, READY)
    aggregator.tasks[WAITING] = FakeTask(state="processing")
    aggregator.tasks[FAILED] = FakeTask(state="failed", failure_reason="nsfw")
    ids = [READY, WAITING, BAD, FAILED, UNKNOWN, READY, OTHER]

    answer = function.lambda_handler({"task_ids": ids}, LocalLambdaContext())

    assert [entry["task_id"] for entry in answer["results"]] == ids
    first, waiting, bad, failed, unknown, again, _other = answer["results"]
    assert first == again
    assert first["url"] == url
    assert first["source"] == "aggregator"
    assert first["expires_at"].endswith("Z")
    assert "error" not in first
    assert (waiting["error"]["code"], waiting["error"]["type"]) == ("video_not_ready", "VideoNotReadyError")
    assert (bad["error"]["code"], bad["error"]["type"]) == ("invalid_task_id", "InvalidTaskIdError")
    assert (failed["error"]["code"], failed["error"]["type"]) == ("task_failed", "TaskFailedError")
    assert "nsfw" in failed["error"]["message"]
    assert (unknown["error"]["code"], unknown["error"]["type"]) == ("task_not_found", "TaskNotFoundError")
    assert (answer["count"], answer["ok"], answer["failed"]) == (7, 2, 5)
    # The duplicate asked the aggregator once; the id outside the pattern never went upstream
    assert [r.path for r in aggregator.requests_for(READY)] == [download_path(READY)]
    assert all("bad" not in r.path for r in aggregator.requests)
    # One request record for the invocation, with the batch's summary
    (line,) = [r for r in log_lines.records() if r["message"] == "request done"]
    assert line["front_door"] == "direct"
    assert line["outcome"] == "data"
    assert line["batch"] == {
        "count": 7,
        "ok": 2,
        "failed": 5,
        "errors": {"video_not_ready": 1, "invalid_task_id": 1, "task_failed": 1, "task_not_found": 2},
    }
    # Each failed entry is counted by code in the Errors metric the alarms watch
    stdout = capsys.readouterr().out
    emf = [json.loads(text) for text in stdout.splitlines() if text.startswith('{"_aws"')]
    counted = {record["ErrorCode"]: record["Errors"] for record in emf if "ErrorCode" in record}
    assert counted == {
        "video_not_ready": [1.0],
        "invalid_task_id": [1.0],
        "task_failed": [1.0],
        "task_not_found": [2.0],
    }


def test_a_batch_resolves_its_ids_concurrently(function: ModuleType, aggregator: Aggregator) -> None:
    # Given WORKERS ids whose aggregator answers take 0.6 s each, and 1.5 s to spend after the reserve:
    # one after the other they would need 4.8 s
    ids = [f"slow-{n}" for n in range(WORKERS)]
    for task_id in ids:
        completed(aggregator, task_id)
        aggregator.script(
            download_path(task_id), Reply(200, {"url": aggregator.tasks[task_id].url}, delay=0.6)
        )

    answer = function.lambda_handler({"task_ids": ids}, LocalLambdaContext(timeout_seconds=2.5))

    assert [entry.get("error") for entry in answer["results"]] == [None] * WORKERS
    assert answer["ok"] == WORKERS


def test_ids_still_waiting_when_the_time_runs_out_are_timeouts_and_never_start(
    function: ModuleType, variant: Callable[..., Any], aggregator: Aggregator
) -> None:
    # Given more ids than workers, each answered only after the invocation's time
    handle = variant(UPSTREAM_READ_TIMEOUT="5")
    ids = [f"hung-{n}" for n in range(WORKERS + 2)]
    for task_id in ids:
        completed(aggregator, task_id)
        aggregator.script(download_path(task_id), Reply(200, {"url": aggregator.tasks[task_id].url}, delay=4))
    started = time.monotonic()

    answer = handle({"task_ids": ids}, LocalLambdaContext(timeout_seconds=2.5))

    assert time.monotonic() - started < 2.5  # answered inside the invocation's time
    assert {entry["error"]["code"] for entry in answer["results"]} == {"upstream_timeout"}
    assert [entry["task_id"] for entry in answer["results"]] == ids
    # the bounded pool started WORKERS lookups; the two queued behind them never went upstream
    assert len(aggregator.requests) == WORKERS


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"task_ids": []}, "1 to 50"),
        ({"task_ids": [f"id-{n}" for n in range(MAX_TASK_IDS + 1)]}, "1 to 50"),
        ({"task_ids": "a-ready-1"}, "must be a list"),
        ({"task_ids": None}, "must be a list"),
        ({"task_ids": {"0": "a-ready-1"}}, "must be a list"),
        ({"task_ids": ["a-ready-1", 7]}, "only strings"),
        ({"task_ids": ["a-ready-1", None]}, "only strings"),
        ({"task_ids": ["a-ready-1"], "task_id": "a-ready-1"}, "not both"),
        ({"task_ids": ["a-ready-1"], "archive": "yes"}, "true or false"),
        ({"task_id": "a-ready-1", "archive": 1}, "true or false"),
    ],
)
def test_malformed_batches_are_invalid_requests_before_any_upstream_call(
    function: ModuleType, aggregator: Aggregator, payload: dict[str, Any], message: str
) -> None:
    completed(aggregator, READY)

    with pytest.raises(errors.InvalidRequestError, match=message) as raised:
        function.lambda_handler(payload, LocalLambdaContext())

    assert type(raised.value) is errors.InvalidRequestError
    assert aggregator.requests == []


def test_fifty_ids_are_a_batch(function: ModuleType, aggregator: Aggregator) -> None:
    ids = [f"many-{n}" for n in range(MAX_TASK_IDS)]
    for task_id in ids:
        completed(aggregator, task_id)

    answer = function.lambda_handler({"task_ids": ids}, LocalLambdaContext())

    assert answer["ok"] == MAX_TASK_IDS
    assert [entry["url"] for entry in answer["results"]] == [aggregator.tasks[i].url for i in ids]


@pytest.mark.parametrize(
    "payload", [{"task_ids": [READY], "archive": True}, {"task_id": READY, "archive": True}]
)
def test_archive_without_an_archive_configured_is_an_invalid_request(
    function: ModuleType, aggregator: Aggregator, payload: dict[str, Any]
) -> None:
    completed(aggregator, READY)

    with pytest.raises(errors.ArchiveDisabledError, match="keeps no archive"):
        function.lambda_handler(payload, LocalLambdaContext())

    assert aggregator.requests == []


def test_archive_false_is_a_plain_lookup(function: ModuleType, aggregator: Aggregator) -> None:
    url = completed(aggregator, READY)

    single = function.lambda_handler({"task_id": READY, "archive": False}, LocalLambdaContext())
    batch = function.lambda_handler({"task_ids": [READY], "archive": False}, LocalLambdaContext())

    assert single["url"] == batch["results"][0]["url"] == url


def test_archive_true_goes_through_the_archive(
    archive_rig: ArchiveRig, aggregator: Aggregator, log_lines: LogLines
) -> None:
    # Given the function with its archive on, and a task whose video the aggregator serves
    completed_with_file(aggregator, READY)

    single = archive_rig.handle({"task_id": READY, "archive": True}, LocalLambdaContext())
    batch = archive_rig.handle({"task_ids": [READY, "gone", READY], "archive": True}, LocalLambdaContext())

    assert (single["source"], single["s3_uri"]) == (
        "archive",
        f"s3://{archive_rig.bucket}/{archive_rig.key(READY)}",
    )
    ready, gone, again = batch["results"]
    assert ready == again
    assert (ready["s3_uri"], ready["size"]) == (single["s3_uri"], single["size"])
    assert gone["error"]["type"] == "TaskNotFoundError"
    assert (batch["ok"], batch["failed"]) == (2, 1)
    single_line, batch_line = [r for r in log_lines.records() if r["message"] == "request done"]
    assert (single_line["task_id"], single_line["source"], single_line["outcome"]) == (
        READY,
        "archive",
        "data",
    )
    assert batch_line["batch"]["errors"] == {"task_not_found": 1}
