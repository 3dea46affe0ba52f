"""The Logger's serializer and deserializer (``telemetry.log_json``, ``telemetry.log_message``), and
what ``telemetry.report`` writes at each log level: the ``request done`` line and the EMF metrics."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics

from luma_download.request_record import RequestRecord
from luma_download.telemetry import log_json, log_message, report


def test_plain_messages_are_not_parsed_and_json_ones_are() -> None:
    # Powertools hands every message to the deserializer and keeps what comes back as "message".
    assert log_message("request done") == "request done"
    assert log_message('{"job": 1}') == {"job": 1}
    assert log_message("[1, 2]") == [1, 2]
    with pytest.raises(ValueError):  # Powertools catches it and keeps the text as the message
        log_message("[not json")


def test_the_serializer_falls_back_to_json_for_what_orjson_refuses() -> None:
    huge = 2**70  # past 64 bits: orjson refuses it
    assert json.loads(log_json({"n": huge, "s": "é"})) == {"n": huge, "s": "é"}
    assert json.loads(log_json({"status": 302})) == {"status": 302}


class CountedRecord(RequestRecord):
    """A record that counts how often its log line's fields are built."""

    __slots__ = ("builds",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.builds = 0

    def log_fields(self) -> dict[str, object]:
        self.builds += 1
        return super().log_fields()


def served_record() -> CountedRecord:
    record = CountedRecord("http_api", "req-1", task_id="abc", outcome="redirect", status=302)
    record.link_cache, record.upstream_ms = "miss", 12.5
    return record


def reported(
    record: RequestRecord, capsys: pytest.CaptureFixture[str], level: str, sampling_rate: float | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Report ``record`` through a Logger at ``level``; its JSON lines and the EMF blobs flushed."""
    lines = io.StringIO()
    logger = Logger(
        service=f"telemetry-{uuid.uuid4().hex}", level=level, stream=lines, sampling_rate=sampling_rate
    )
    metrics = Metrics(namespace="TelemetryTest", service="telemetry-test")
    report(record, logger, metrics)
    metrics.flush_metrics()
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    return [json.loads(line) for line in lines.getvalue().splitlines()], blobs


def test_at_info_the_request_line_is_built_once_and_written(capsys: pytest.CaptureFixture[str]) -> None:
    record = served_record()
    lines, blobs = reported(record, capsys, "INFO")
    assert record.builds == 1
    assert [(line["message"], line["level"], line["status"]) for line in lines] == [
        ("request done", "INFO", 302)
    ]
    assert [blob["Requests"] for blob in blobs] == [[1.0]]


def test_at_warning_the_request_line_is_not_even_built_but_its_metrics_are_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record = served_record()
    lines, blobs = reported(record, capsys, "WARNING")
    assert (lines, record.builds) == ([], 0)
    assert [(blob["Requests"], blob["UpstreamLatency"]) for blob in blobs] == [([1.0], [12.5])]


def test_at_warning_a_crash_still_writes_its_line_with_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    record = CountedRecord("http_api", "req-2", task_id="abc", status=500)
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        record.crashed(exc)
    lines, blobs = reported(record, capsys, "WARNING")
    assert [(line["level"], line["outcome"], line["error_type"]) for line in lines] == [
        ("ERROR", "internal_error", "RuntimeError")
    ]
    assert "a bug" in lines[0]["exception"]
    assert [blob["ErrorCode"] for blob in blobs if "Errors" in blob] == ["internal_error"]


def test_a_sampled_invocation_writes_its_line_at_warning(capsys: pytest.CaptureFixture[str]) -> None:
    """POWERTOOLS_LOGGER_SAMPLE_RATE: a sampled invocation logs at DEBUG, whatever the set level."""
    record = served_record()
    lines, _ = reported(record, capsys, "WARNING", sampling_rate=1.0)
    assert [line["message"] for line in lines] == ["request done"]
