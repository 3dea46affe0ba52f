"""The archive's two EventBridge events: exactly the published shape (docs/schemas/), on the given bus."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from luma_download.archive.events import (
    MAX_REASON_CHARS,
    EventEntry,
    archive_failed_event,
    archived_event,
)
from luma_download.model import StoredCopy
from tests.conftest import EVENT_TASK_ID, schema_errors

ARCHIVED_SCHEMA = "video-archived.schema.json"
FAILED_SCHEMA = "video-archive-failed.schema.json"
COPY = StoredCopy(EVENT_TASK_ID, "acme-videos", f"luma/{EVENT_TASK_ID}.mp4", 58_123)
SHA256 = hashlib.sha256(b"the video").hexdigest()
# 15:03:15 at UTC+2 is 13:03:15Z.
ARCHIVED_AT = datetime(2026, 12, 4, 15, 3, 15, tzinfo=timezone(timedelta(hours=2)))


def archived(**changes: Any) -> EventEntry:
    arguments: dict[str, Any] = {
        "sha256": SHA256,
        "content_type": "video/mp4",
        "archived_at": ARCHIVED_AT,
        "source_host": "abc.r2.cloudflarestorage.com",
        **changes,
    }
    return archived_event("luma-events", COPY, **arguments)


def detail(entry: EventEntry) -> Any:
    return json.loads(entry["Detail"])


def test_a_new_copy_is_one_video_archived_event_on_the_bus() -> None:
    entry = archived()

    assert {k: v for k, v in entry.items() if k != "Detail"} == {
        "Source": "luma-download",
        "DetailType": "Video Archived",
        "EventBusName": "luma-events",
    }
    assert detail(entry) == {
        "task_id": EVENT_TASK_ID,
        "s3_uri": f"s3://acme-videos/luma/{EVENT_TASK_ID}.mp4",
        "size": 58_123,
        "sha256": SHA256,
        "content_type": "video/mp4",
        "archived_at": "2026-12-04T13:03:15Z",
        "source_host": "abc.r2.cloudflarestorage.com",
    }
    assert schema_errors(ARCHIVED_SCHEMA, detail(entry)) == []


def test_a_job_out_of_receives_is_one_video_archive_failed_event() -> None:
    entry = archive_failed_event(
        "default", EVENT_TASK_ID, reason="archive_download_failed: cut short", receive_count=3
    )

    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "luma-download",
        "Video Archive Failed",
        "default",
    )
    assert detail(entry) == {
        "task_id": EVENT_TASK_ID,
        "reason": "archive_download_failed: cut short",
        "receive_count": 3,
    }
    assert schema_errors(FAILED_SCHEMA, detail(entry)) == []


@pytest.mark.parametrize(
    ("reason", "sent"),
    [("x" * 5000, "x" * MAX_REASON_CHARS), ("", "unknown")],
    ids=["long", "empty"],
)
def test_a_failures_reason_stays_within_the_schema(reason: str, sent: str) -> None:
    entry = archive_failed_event("default", "t1", reason=reason, receive_count=1)

    assert detail(entry)["reason"] == sent
    assert schema_errors(FAILED_SCHEMA, detail(entry)) == []


# What a consumer may rely on: the schemas refuse anything but the shape the worker sends.
@pytest.mark.parametrize(
    ("schema", "entry", "change"),
    [
        (ARCHIVED_SCHEMA, archived(), {"sha256": "ABC"}),
        (ARCHIVED_SCHEMA, archived(), {"size": -1}),
        (ARCHIVED_SCHEMA, archived(), {"archived_at": "2026-12-04 13:03:15"}),
        (ARCHIVED_SCHEMA, archived(), {"s3_uri": "https://acme-videos.s3.amazonaws.com/luma/a.mp4"}),
        (ARCHIVED_SCHEMA, archived(), {"url": "https://example.com/a.mp4"}),
        (ARCHIVED_SCHEMA, archived(), {"source_host": None}),
        (FAILED_SCHEMA, archive_failed_event("b", "t1", reason="r", receive_count=3), {"receive_count": 0}),
        (FAILED_SCHEMA, archive_failed_event("b", "t1", reason="r", receive_count=3), {"task_id": "../x"}),
        (FAILED_SCHEMA, archive_failed_event("b", "t1", reason="r", receive_count=3), {"error": "x"}),
    ],
    ids=[
        "sha256-not-hex",
        "negative-size",
        "time-not-utc-stamp",
        "not-an-s3-uri",
        "extra-field",
        "no-source-host",
        "no-receive",
        "bad-task-id",
        "failed-extra-field",
    ],
)
def test_the_schemas_refuse_other_shapes(schema: str, entry: EventEntry, change: dict[str, Any]) -> None:
    assert schema_errors(schema, {**detail(entry), **change}) != []


@pytest.mark.parametrize(
    ("schema", "entry"),
    [
        (ARCHIVED_SCHEMA, archived()),
        (FAILED_SCHEMA, archive_failed_event("b", "t", reason="r", receive_count=1)),
    ],
    ids=["archived", "failed"],
)
def test_every_field_is_required(schema: str, entry: EventEntry) -> None:
    for field in detail(entry):
        assert schema_errors(schema, {k: v for k, v in detail(entry).items() if k != field}) != [], field


def test_archived_at_is_utc_whatever_zone_it_is_given_in() -> None:
    same_instant = ARCHIVED_AT.astimezone(UTC)
    assert detail(archived(archived_at=same_instant)) == detail(archived())
