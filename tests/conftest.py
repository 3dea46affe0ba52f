"""Shared fixtures: events from events/, a Lambda context, and the function's JSON log lines."""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.lambda_context import LocalLambdaContext

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
EVENT_TASK_ID = "1fa17995-f527-46a5-9796-294b453b8a7f"
SERVICE = "luma-download"


def load_event(name: str, task_id: str | None = None) -> Any:
    """An event from events/, optionally retargeted at another task id (path and path parameters)."""
    event = json.loads((EVENTS_DIR / name).read_text())
    if task_id is None:
        return event
    return _replace_in_strings(event, EVENT_TASK_ID, task_id)


def _replace_in_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {key: _replace_in_strings(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_in_strings(item, old, new) for item in value]
    return value


@pytest.fixture
def event() -> Callable[..., Any]:
    return lambda name, task_id=None: copy.deepcopy(load_event(name, task_id))


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext(timeout_seconds=15)


class LogLines:
    """The JSON lines the function's Powertools logger wrote during one test."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def last(self, message: str) -> dict[str, Any]:
        matches = [r for r in self.records() if r.get("message") == message]
        assert matches, f"no log line {message!r} in:\n{self.text}"
        return matches[-1]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Tee the service logger into a buffer, formatted by the logger's own JSON formatter."""
    import handler  # noqa: PLC0415 (imported once the environment is set by the caller's fixtures)

    stream = io.StringIO()
    tee = logging.StreamHandler(stream)
    tee.setFormatter(handler.logger.registered_formatter)
    std_logger = logging.getLogger(SERVICE)
    std_logger.addHandler(tee)
    try:
        yield LogLines(stream)
    finally:
        std_logger.removeHandler(tee)
