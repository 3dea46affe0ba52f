"""The archive's events on EventBridge: one when a new copy is made, one when a job fails for good.

Source ``luma-download``; detail-types ``Video Archived`` and ``Video Archive Failed``, whose details
are published as JSON Schemas (``docs/schemas/video-archived.schema.json``,
``docs/schemas/video-archive-failed.schema.json``). Building an event is pure; putting one is the
job's note, never its failure: an SDK error, a refused entry in PutEvents' answer and running out of
time all come back as a ``failed`` ``PutResult`` with the reason, for the log and the metrics.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypedDict

from botocore.exceptions import BotoCoreError, ClientError

from luma_download.errors import aws_error_code
from luma_download.model import Deadline, EnqueueResult, StoredCopy
from luma_download.off_thread import call_within

SOURCE = "luma-download"
ARCHIVED = "Video Archived"
ARCHIVE_FAILED = "Video Archive Failed"
# An event is a note: it may take at most this long of the job's time (the call itself ends by the
# client's own timeouts).
PUT_SECONDS = 2.0
# A failure's reason is a log line's detail, not a document: the schema's maxLength.
MAX_REASON_CHARS = 1000


class EventEntry(TypedDict):
    """One PutEvents entry, as the SDK takes it."""

    Source: str
    DetailType: str
    Detail: str
    EventBusName: str


class PutResult(NamedTuple):
    """What putting one event did: ``sent``, or ``failed`` and why (for the operator's log)."""

    outcome: EnqueueResult
    reason: str | None = None


def archived_event(
    bus: str,
    copy: StoredCopy,
    *,
    sha256: str,
    content_type: str,
    archived_at: datetime,
    source_host: str,
) -> EventEntry:
    """``Video Archived``: a new copy is in the bucket (``sha256``: the whole file's, in hex)."""
    detail = {
        "task_id": copy.task_id,
        "s3_uri": copy.s3_uri,
        "size": copy.size,
        "sha256": sha256,
        "content_type": content_type,
        "archived_at": archived_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source_host": source_host,
    }
    return _entry(bus, ARCHIVED, detail)


def archive_failed_event(bus: str, task_id: str, *, reason: str, receive_count: int) -> EventEntry:
    """``Video Archive Failed``: a job failed on its last allowed receive (next: the dead-letter queue)."""
    detail = {
        "task_id": task_id,
        "reason": reason[:MAX_REASON_CHARS] or "unknown",
        "receive_count": receive_count,
    }
    return _entry(bus, ARCHIVE_FAILED, detail)


def _entry(bus: str, detail_type: str, detail: dict[str, Any]) -> EventEntry:
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": bus,
    }


def put_event(
    events: Any, entry: EventEntry, deadline: Deadline, *, seconds: float = PUT_SECONDS
) -> PutResult:
    """Put ``entry`` with the EventBridge client ``events``, waiting at most ``seconds`` of what
    ``deadline`` has left; never raises for the SDK, the service's answer or the time."""
    try:
        answer = call_within(
            min(deadline.remaining(), seconds),
            lambda: events.put_events(Entries=[entry]),
            name="event put",
        )
    except TimeoutError as exc:
        return PutResult("failed", str(exc))
    except ClientError as exc:
        return PutResult("failed", f"EventBridge error {aws_error_code(exc, 'unknown')}")
    except BotoCoreError as exc:
        return PutResult("failed", f"EventBridge {type(exc).__name__}")
    # PutEvents answers 200 even when it refused the entry: the refusal is in the entry's answer.
    if answer.get("FailedEntryCount", 0):
        refused = (answer.get("Entries") or [{}])[0]
        code, message = refused.get("ErrorCode", "unknown"), refused.get("ErrorMessage", "")
        return PutResult("failed", f"EventBridge refused the event: {code} {message}".rstrip())
    return PutResult("sent")
