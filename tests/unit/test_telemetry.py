"""The Logger's serializer and deserializer (``telemetry.log_json``, ``telemetry.log_message``)."""

from __future__ import annotations

import json

import pytest

from luma_download.telemetry import log_json, log_message


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
