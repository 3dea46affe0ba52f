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
