"""What the parent and its children share: names, events, the Lambda-like environment and stdout."""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, cast

from bench.unbuffered import Unbuffered

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
EVENTS_DIR = REPO / "events"
EVENT_TASK_ID = "1fa17995-f527-46a5-9796-294b453b8a7f"

SECRET_ID = "luma/aggregator-token"
TOKEN = "sk-bench-0123456789abcdef"
SERVICE = "luma-download"


def presigned_r2_url(task_id: str) -> str:
    """An allowed URL shaped like the aggregator doc's example: R2, SigV4, signed now, one hour."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return (
        f"https://dc53a917a6f427706a8ca3ecc7d70ea4.r2.cloudflarestorage.com/ai-lumalabs-storage-private/"
        f"{task_id}/{task_id}_raw_video.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=60bf44f30d45b472f9dd032de33e15d1%2F20261124%2Fauto%2Fs3%2Faws4_request"
        f"&X-Amz-Date={stamp}&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature=55dd4a936863559dfdd81708823eae8f07cb3dc3c4bcdde9fe6fb0d7c7fcb0be"
    )


EVENT_REQUEST_ID = "Cf3nPjRNoAMEV4g="
EVENT_TRACE_ROOT = "Root=1-6745f1a2-3c4e5f60718293a4b5c6d7e8"


class EventFactory:
    """``events/http_api_get.json`` retargeted at any task id (path, raw path, path parameters).

    ``raw`` gives the bytes the runtime receives for one invocation: its own API Gateway request id
    and trace header; ``__call__`` parses them into a new dict, as the runtime does every time.
    """

    def __init__(self, name: str = "http_api_get.json") -> None:
        self._text = (EVENTS_DIR / name).read_text()

    def raw(self, task_id: str, number: int = 0) -> bytes:
        return (
            self._text.replace(EVENT_TASK_ID, task_id)
            .replace(EVENT_REQUEST_ID, f"bench{number:011d}=")
            .replace(EVENT_TRACE_ROOT, trace_root(number))
            .encode()
        )

    def __call__(self, task_id: str, number: int = 0) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.raw(task_id, number))
        return event


def trace_root(number: int) -> str:
    return f"Root=1-6745f1a2-{number:024x}"


def begin_invocation(number: int) -> None:
    """What the runtime sets before each invocation of a function with active tracing (the
    template's default): the trace header, which the Powertools Logger puts on every line."""
    os.environ["_X_AMZN_TRACE_ID"] = f"{trace_root(number)};Parent={number:016x};Sampled=1"


def lambda_runtime_environment() -> dict[str, str]:
    """The variables the Lambda runtime sets that the libraries read at import or per call.

    Powertools reads ``AWS_LAMBDA_FUNCTION_NAME`` and friends (cold-start flag, log fields).
    """
    return {
        "LAMBDA_TASK_ROOT": str(SRC),
        "AWS_LAMBDA_FUNCTION_NAME": SERVICE,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "POWERTOOLS_SERVICE_NAME": SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": "LumaDownload",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


class RuntimeStdout:
    """A function's stdout as in Lambda: a pipe that another process (there the log agent, here
    ``cat`` into /dev/null) drains, written through ``Unbuffered``. Close it to stop the drainer."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        self.drainer = subprocess.Popen(["cat"], stdin=read_end, stdout=subprocess.DEVNULL)
        os.close(read_end)
        self.stream: TextIO = os.fdopen(write_end, "w", encoding="utf-8")
        self.stdout = cast(TextIO, Unbuffered(self.stream))

    def close(self) -> None:
        self.stream.close()
        self.drainer.wait(timeout=30)


def null_sink() -> TextIO:
    """Where the function's stdout goes while it is measured: /dev/null, line-buffered.

    Every log line and EMF blob is built, encoded and written with one write(2) each, as a Lambda
    function's stdout pipe gets them; only the bytes are dropped.
    """
    return Path(os.devnull).open("w", buffering=1, encoding="utf-8")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return float("nan")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
