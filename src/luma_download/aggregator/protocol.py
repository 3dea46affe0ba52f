"""The aggregator's protocol as pure functions: its paths, and what each answer means.

Resellers answer ``download_video_url`` with 400 until a task has completed; the task document
(``GET /luma/generations/{id}``) then says why: ``state``, ``failure_reason``, ``video.download_url``.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from luma_download.aggregator.safe_text import clean_text
from luma_download.errors import (
    LumaDownloadError,
    TaskFailedError,
    TaskNotFoundError,
    UpstreamError,
    UpstreamRateLimitedError,
    VideoNotReadyError,
)
from luma_download.paths import DOWNLOAD_SUFFIX, GENERATIONS_PREFIX

NOT_READY_STATES = frozenset({"pending", "queued", "processing", "dreaming"})
NOT_READY_RETRY_AFTER = 10
RATE_LIMIT_RETRY_AFTER = 10
MAX_RETRY_AFTER = 3600


def download_path(task_id: str) -> str:
    return f"{GENERATIONS_PREFIX}{task_id}{DOWNLOAD_SUFFIX}"


def task_path(task_id: str) -> str:
    return f"{GENERATIONS_PREFIX}{task_id}"


def parse_document(body: bytes) -> object:
    """The answer's JSON, or ``None`` when it is not JSON (or nested past orjson's 1024 levels)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def url_from_download_answer(document: object) -> object:
    """The ``url`` of a 200 answer; ``None`` when there is none yet (ask the task instead)."""
    if not isinstance(document, dict):
        raise UpstreamError("upstream answered 200 without a JSON object")
    return document.get("url")


def url_from_task(task: object, secrets: Iterable[str] = ()) -> object:
    """The video URL of a completed task, or the typed error that says why there is none."""
    if not isinstance(task, dict):
        raise UpstreamError("upstream task is not a JSON object")
    raw_state = task.get("state")
    state = raw_state.lower() if isinstance(raw_state, str) else ""
    if state in NOT_READY_STATES:
        raise VideoNotReadyError(
            f"the video is not ready yet (state: {state})", state=state, retry_after=NOT_READY_RETRY_AFTER
        )
    if state == "failed":
        reason = clean_text(task.get("failure_reason"), secrets) or "no reason given"
        raise TaskFailedError(f"the generation failed: {reason}", reason=reason)
    if state == "completed":
        video = task.get("video")
        url = video.get("download_url") if isinstance(video, dict) else None
        if url:
            return url
        raise VideoNotReadyError(
            "the task completed but its video link is not published yet",
            state=state,
            retry_after=NOT_READY_RETRY_AFTER,
        )
    raise UpstreamError("upstream reported an unknown task state")


def error_for_status(status: int, retry_after: str | None, message: str | None) -> LumaDownloadError:
    """The error for a refusal; ``message`` (the aggregator's, cleaned) goes to the operator only."""
    error: LumaDownloadError
    if status == 404:
        error = TaskNotFoundError("the aggregator does not know this task")
    elif status == 429:
        error = UpstreamRateLimitedError(
            "the aggregator is rate limiting; try again later",
            retry_after=retry_after_seconds(retry_after, RATE_LIMIT_RETRY_AFTER),
        )
    elif 300 <= status < 400:
        error = UpstreamError("upstream answered with a redirect, which is not followed")
    else:
        error = UpstreamError(f"upstream answered HTTP {status}")
    error.upstream_status = status
    error.detail = message
    return error


def retry_after_seconds(value: str | None, default: int) -> int:
    """A ``Retry-After`` in whole seconds (1 to an hour); ``default`` when absent or not a number."""
    if value and value.strip().isdigit():
        return max(1, min(int(value.strip()), MAX_RETRY_AFTER))
    return default
