"""The archive's events, put through ``archive.events`` on moto's EventBridge (server mode, reached through
``AWS_ENDPOINT_URL_EVENTBRIDGE``): a rule on the bus matching source ``luma-download`` delivers each one
to an SQS queue, exactly once, with a detail that conforms to its published schema. Every way a put can
fail (a refused entry, an unknown bus, an error answer, nothing listening, no answer in time) comes
back as ``failed`` with the reason, never as an exception.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.aws import EmbeddedAws
from local.faulty_aws import aws_error
from local.hostile import HANG, Answer, HostileServer, SeenRequest
from luma_download.archive.events import (
    EventEntry,
    PutResult,
    archive_failed_event,
    archived_event,
    put_event,
)
from luma_download.model import Deadline, StoredCopy
from tests.conftest import EVENT_TASK_ID, schema_errors
from tests.integration.conftest import Bus, sha256

# One attempt: each failure below is seen as the SDK first meets it (no backoff in the test's time).
ONE_ATTEMPT = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5)
COPY = StoredCopy(EVENT_TASK_ID, "archive-bucket", f"luma/{EVENT_TASK_ID}.mp4", 58_123)


@pytest.fixture
def eventbridge(embedded_aws: EmbeddedAws) -> Any:
    """The client as the function would make it: endpoint and region from the environment only."""
    return boto3.client("events", config=ONE_ATTEMPT)


def events_at(endpoint: str) -> Any:
    return boto3.client("events", endpoint_url=endpoint, config=ONE_ATTEMPT)


def a_new_copy(bus_name: str) -> EventEntry:
    return archived_event(
        bus_name,
        COPY,
        sha256=sha256(b"the video"),
        content_type="video/mp4",
        archived_at=datetime(2026, 12, 4, 13, 3, 15, tzinfo=UTC),
        source_host="abc.r2.cloudflarestorage.com",
    )


@pytest.fixture
def hostile() -> Iterator[list[HostileServer]]:
    servers: list[HostileServer] = []
    yield servers
    for server in servers:
        server.stop()


def answering(servers: list[HostileServer], answer: Answer) -> str:
    def respond(_: SeenRequest) -> Answer:
        return answer

    server = HostileServer(respond).start()
    servers.append(server)
    return server.base_url


def test_a_new_copy_reaches_the_rule_once_as_video_archived(bus: Bus, eventbridge: Any) -> None:
    entry = a_new_copy(bus.name)

    result = put_event(eventbridge, entry, Deadline(10))

    assert result == PutResult("sent")
    (event,) = bus.delivered()
    assert (event["source"], event["detail-type"]) == ("luma-download", "Video Archived")
    assert event["detail"] == json.loads(entry["Detail"])
    assert schema_errors("video-archived.schema.json", event["detail"]) == []


def test_a_job_out_of_receives_reaches_the_rule_once_as_video_archive_failed(
    bus: Bus, eventbridge: Any
) -> None:
    entry = archive_failed_event(bus.name, EVENT_TASK_ID, reason="video_too_large: 3 GiB", receive_count=3)

    assert put_event(eventbridge, entry, Deadline(10)) == PutResult("sent")

    (event,) = bus.delivered()
    assert (event["source"], event["detail-type"]) == ("luma-download", "Video Archive Failed")
    assert event["detail"] == {
        "task_id": EVENT_TASK_ID,
        "reason": "video_too_large: 3 GiB",
        "receive_count": 3,
    }
    assert schema_errors("video-archive-failed.schema.json", event["detail"]) == []


def test_each_put_is_one_event(bus: Bus, eventbridge: Any) -> None:
    """Two copies, two events: nothing is batched, repeated or lost on the way."""
    first, second = a_new_copy(bus.name), archive_failed_event(bus.name, "t2", reason="r", receive_count=1)

    assert [put_event(eventbridge, entry, Deadline(10)).outcome for entry in (first, second)] == [
        "sent",
        "sent",
    ]

    assert sorted(event["detail-type"] for event in bus.delivered()) == [
        "Video Archive Failed",
        "Video Archived",
    ]


def test_an_entry_the_bus_refuses_is_failed_not_raised(bus: Bus, eventbridge: Any) -> None:
    """PutEvents answers 200 with FailedEntryCount 1: the entry's own error is the reason."""
    refused: EventEntry = {**a_new_copy(bus.name), "Detail": "not json"}

    result = put_event(eventbridge, refused, Deadline(10))

    assert result.outcome == "failed"
    assert result.reason is not None and "MalformedDetail" in result.reason
    assert bus.delivered() == []


def test_an_unknown_bus_is_failed_not_raised(eventbridge: Any) -> None:
    result = put_event(eventbridge, a_new_copy(f"no-such-bus-{uuid.uuid4().hex[:8]}"), Deadline(10))

    assert result == PutResult("failed", "EventBridge error ResourceNotFoundException")


def test_an_error_answer_is_failed_not_raised(hostile: list[HostileServer]) -> None:
    endpoint = answering(hostile, aws_error(500, "InternalException", "An internal error occurred"))

    result = put_event(events_at(endpoint), a_new_copy("default"), Deadline(10))

    assert result == PutResult("failed", "EventBridge error InternalException")


def test_an_unreachable_endpoint_is_failed_not_raised() -> None:
    refusing = HostileServer(answering_nothing)  # never started: its reserved port refuses connections
    try:
        result = put_event(events_at(refusing.base_url), a_new_copy("default"), Deadline(10))
    finally:
        refusing.stop()

    assert result == PutResult("failed", "EventBridge EndpointConnectionError")


def answering_nothing(_: SeenRequest) -> Answer:
    return HANG


def test_no_answer_within_the_time_left_is_failed_not_raised(hostile: list[HostileServer]) -> None:
    """The endpoint accepts and never answers: the put gives up when the deadline's time is spent,
    long before the SDK's own read timeout."""
    endpoint = answering(hostile, HANG)

    result = put_event(events_at(endpoint), a_new_copy("default"), Deadline(0.5))

    assert result.outcome == "failed"
    assert result.reason is not None and "event put did not answer" in result.reason
    assert hostile[0].calls() <= 1


def test_no_time_left_puts_nothing(bus: Bus, eventbridge: Any) -> None:
    result = put_event(eventbridge, a_new_copy(bus.name), Deadline(0))

    assert result.outcome == "failed"
    assert bus.delivered() == []
