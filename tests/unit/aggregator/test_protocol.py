"""The aggregator's protocol as pure functions: every task document maps to a URL or a typed error."""

from __future__ import annotations

import pytest

from luma_download.aggregator.protocol import (
    download_path,
    error_for_status,
    parse_document,
    retry_after_seconds,
    task_path,
    url_from_download_answer,
    url_from_task,
)
from luma_download.errors import (
    LumaDownloadError,
    TaskFailedError,
    TaskNotFoundError,
    UpstreamError,
    UpstreamRateLimitedError,
    VideoNotReadyError,
)

URL = "https://x.r2.cloudflarestorage.com/v.mp4"


def completed(video: object) -> dict[str, object]:
    return {"id": "t", "state": "completed", "video": video}


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (completed({"download_url": URL}), URL),
        ({"state": "COMPLETED", "video": {"download_url": URL}}, URL),  # states are case-insensitive
        ({"state": "pending"}, VideoNotReadyError),
        ({"state": "queued"}, VideoNotReadyError),
        ({"state": "processing"}, VideoNotReadyError),
        ({"state": "dreaming"}, VideoNotReadyError),
        (completed(None), VideoNotReadyError),  # completed, link not published yet
        (completed({}), VideoNotReadyError),
        (completed({"download_url": ""}), VideoNotReadyError),
        (completed({"url": URL}), VideoNotReadyError),  # only download_url is the clean file
        (completed("not an object"), VideoNotReadyError),
        (completed([URL]), VideoNotReadyError),
        ({"state": "failed", "failure_reason": "moderation"}, TaskFailedError),
        ({"state": "failed"}, TaskFailedError),
        ({"state": "failed", "failure_reason": 42}, TaskFailedError),
        ({"state": "exploded"}, UpstreamError),  # unknown state
        ({"state": ""}, UpstreamError),
        ({"state": None}, UpstreamError),
        ({"state": 7}, UpstreamError),  # wrongly typed state
        ({}, UpstreamError),  # no state at all
        ([], UpstreamError),  # not an object
        ("completed", UpstreamError),
        (None, UpstreamError),
    ],
)
def test_task_documents(task: object, expected: object) -> None:
    if isinstance(expected, str):
        assert url_from_task(task) == expected
    else:
        assert isinstance(expected, type)
        with pytest.raises(expected):
            url_from_task(task)


def test_a_completed_task_with_a_non_string_url_is_handed_on_for_the_url_rules() -> None:
    # The URL rules (url_rules.check_video_url) refuse it; the protocol only says where it is.
    assert url_from_task(completed({"download_url": 12345})) == 12345


def test_not_ready_says_the_state_and_when_to_ask_again() -> None:
    with pytest.raises(VideoNotReadyError) as raised:
        url_from_task({"state": "Processing"})
    assert raised.value.state == "processing"
    assert raised.value.retry_after == 10


def test_failure_reason_is_cleaned_and_masked() -> None:
    task = {"state": "failed", "failure_reason": "bad\r\nprompt for sk-secret-0123456789 by tok-abc"}
    with pytest.raises(TaskFailedError) as raised:
        url_from_task(task, secrets=("tok-abc",))
    assert raised.value.reason == "bad prompt for *** by ***"
    with pytest.raises(TaskFailedError, match="no reason given"):
        url_from_task({"state": "failed", "failure_reason": "   "})


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"url": URL}, URL),
        ({"url": None}, None),  # no url yet: ask the task
        ({}, None),
    ],
)
def test_download_answers(document: object, expected: object) -> None:
    assert url_from_download_answer(document) == expected


@pytest.mark.parametrize("document", [None, [], "x", 3])
def test_a_download_answer_that_is_not_an_object_is_a_bad_upstream(document: object) -> None:
    with pytest.raises(UpstreamError):
        url_from_download_answer(document)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected", "retry"),
    [
        (404, None, TaskNotFoundError, None),
        (429, "7", UpstreamRateLimitedError, 7),
        (429, None, UpstreamRateLimitedError, 10),
        (429, "99999", UpstreamRateLimitedError, 3600),
        (302, None, UpstreamError, None),
        (500, None, UpstreamError, None),
        (418, None, UpstreamError, None),
    ],
)
def test_refusals(
    status: int, retry_after: str | None, expected: type[LumaDownloadError], retry: int | None
) -> None:
    error = error_for_status(status, retry_after, "upstream said no")
    assert type(error) is expected
    assert error.retry_after == retry
    # What the aggregator said is for the operator's record, not for the caller.
    assert (error.upstream_status, error.detail) == (status, "upstream said no")
    assert "upstream said no" not in error.message


def test_retry_after_needs_whole_seconds() -> None:
    assert retry_after_seconds(" 12 ", 10) == 12
    assert retry_after_seconds("0", 10) == 1
    assert retry_after_seconds("soon", 10) == 10
    assert retry_after_seconds(None, 10) == 10


def test_paths_are_the_aggregator_api() -> None:
    assert download_path("abc") == "/luma/generations/abc/download_video_url"
    assert task_path("abc") == "/luma/generations/abc"


def test_parse_document_never_raises() -> None:
    assert parse_document(b'{"a": 1}') == {"a": 1}
    assert parse_document(b"<html>") is None
    assert parse_document(b"\xff\xfe") is None
    # Deep enough to exhaust the parser's recursion: not JSON we can use, and no RecursionError.
    assert parse_document(("[" * 100_000 + "]" * 100_000).encode()) is None
