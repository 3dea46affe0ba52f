"""The request record's log line: only known fields, and a serializer that never fails a request."""

from __future__ import annotations

import json

from luma_download.request_record import RequestRecord
from luma_download.telemetry import log_json


def test_only_known_fields_are_logged() -> None:
    record = RequestRecord(front_door="http_api", task_id="abc", outcome="redirect", status=302)
    assert record.log_fields() == {
        "front_door": "http_api",
        "task_id": "abc",
        "outcome": "redirect",
        "status": 302,
    }


def test_the_serializer_writes_what_orjson_cannot() -> None:
    deep: object = "x"
    for _ in range(300):  # orjson stops at 254 levels
        deep = [deep]
    line = log_json({"message": "request done", "odd": deep, "big": 2**70})
    assert json.loads(line)["big"] == 2**70
    assert json.loads(log_json({"a": 1, "b": "ü"})) == {"a": 1, "b": "ü"}


def test_a_jobs_event_is_a_field_and_a_failed_one_says_why_beside_the_jobs_own_detail() -> None:
    sent = RequestRecord(front_door="sqs", task_id="abc", outcome="archived")
    sent.event_put("sent")
    failed_job = RequestRecord(front_door="sqs", task_id="abc", outcome="archive_unavailable")
    failed_job.detail = "S3 error SlowDown"
    failed_job.event_put("failed", "EventBridge error ThrottlingException")

    assert sent.log_fields()["archive_event"] == "sent"
    assert "detail" not in sent.log_fields()
    assert failed_job.log_fields()["archive_event"] == "failed"
    assert failed_job.log_fields()["detail"] == (
        "S3 error SlowDown; archive event not sent: EventBridge error ThrottlingException"
    )
