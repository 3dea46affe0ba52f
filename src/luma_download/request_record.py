"""One request's record: what the work found out, as data; the handler logs it once and counts it."""

from __future__ import annotations

from collections.abc import Mapping

from luma_download.errors import LumaDownloadError
from luma_download.model import CopyOutcome, LinkOutcome

# Outcomes that are not error codes: a redirect, the JSON document, data for a direct invoke, or
# an archive job done.
SERVED_OUTCOMES = frozenset({"redirect", "json", "data", "archived"})


class BatchSummary:
    """What a batch (``{"task_ids": [...]}``) did: its entries, how many have a link, how many failed."""

    __slots__ = ("count", "errors", "failed", "ok")

    def __init__(self, count: int, ok: int, failed: int, errors: Mapping[str, int]) -> None:
        self.count = count
        self.ok = ok
        self.failed = failed
        self.errors = errors  # failed entries by error code: each is counted in the Errors metric

    def log_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"count": self.count, "ok": self.ok, "failed": self.failed}
        if self.errors:
            fields["errors"] = dict(self.errors)
        return fields


class RequestRecord:
    """Created by the handler per request and filled by the work; field names are a log contract.

    A plain slotted class: a dataclass of this size costs about 1 ms of every cold start.
    """

    __slots__ = (
        "archive",
        "archive_bytes",
        "archive_enqueue",
        "archive_event",
        "archive_ms",
        "batch",
        "correlation_id",
        "crash",
        "detail",
        "error_type",
        "front_door",
        "link_cache",
        "outcome",
        "s3_uri",
        "source",
        "status",
        "task_id",
        "upstream_ms",
        "upstream_status",
        "video_url",
    )

    def __init__(
        self,
        front_door: str,
        correlation_id: str | None = None,
        *,
        task_id: str | None = None,
        outcome: str | None = None,
        status: int | None = None,
    ) -> None:
        self.front_door = front_door
        self.correlation_id = correlation_id  # the API Gateway request id, or the SQS message id
        self.task_id = task_id
        self.outcome = outcome  # redirect | json | data | archived | an error code
        self.status = status
        self.link_cache: str | None = None
        self.upstream_ms: float | None = None
        self.video_url: str | None = None
        self.source: str | None = None
        # hit | miss | unavailable (request path); copied | present | failed (archiving a task)
        self.archive: str | None = None
        self.archive_ms: float | None = None
        self.archive_enqueue: str | None = None  # sent | failed
        self.archive_event: str | None = None  # sent | failed: an archive job's EventBridge event
        self.archive_bytes: int | None = None
        self.s3_uri: str | None = None
        self.error_type: str | None = None
        self.upstream_status: int | None = None
        self.detail: str | None = None
        self.batch: BatchSummary | None = None
        # A bug's exception: logged with its trace, never shown to a caller.
        self.crash: BaseException | None = None

    def served(self, found: LinkOutcome, outcome: str) -> None:
        self.outcome = outcome
        self.link_cache = found.link_cache
        self.upstream_ms = found.upstream_ms
        self.video_url = found.link.log_url
        self.source = found.link.source
        if found.archive is not None:
            self.archive = found.archive
            self.archive_ms = found.archive_ms
            self.archive_enqueue = found.archive_enqueue
            self.detail = found.archive_detail

    def copied(self, result: CopyOutcome, outcome: str = "archived") -> None:
        """A task archived now (``copied``) or found archived (``present``)."""
        self.outcome = outcome
        self.upstream_ms = result.upstream_ms
        self.video_url = result.link.log_url
        self.source = "archive"
        self.archive = "copied" if result.made else "present"
        self.archive_ms = result.archive_ms
        self.archive_bytes = result.copy.size if result.made else None
        self.s3_uri = result.copy.s3_uri

    def event_put(self, outcome: str, reason: str | None = None) -> None:
        """The job's event was put (``sent``) or not (``failed``: ``reason`` joins ``detail``)."""
        self.archive_event = outcome
        if reason is not None:
            note = f"archive event not sent: {reason}"
            self.detail = note if self.detail is None else f"{self.detail}; {note}"

    def failed(self, error: LumaDownloadError) -> None:
        self.outcome = error.code
        self.error_type = type(error).__name__
        self.link_cache = error.link_cache
        self.upstream_ms = error.upstream_ms
        self.upstream_status = error.upstream_status
        self.detail = error.detail

    def crashed(self, error: BaseException) -> None:
        self.outcome = "internal_error"
        self.error_type = type(error).__name__
        self.crash = error

    def log_fields(self) -> dict[str, object]:
        """The fields that are known, for the ``request done`` line."""
        fields: dict[str, object] = {
            "front_door": self.front_door,
            "correlation_id": self.correlation_id,
            "task_id": self.task_id,
            "outcome": self.outcome,
            "status": self.status,
            "link_cache": self.link_cache,
            "upstream_ms": None if self.upstream_ms is None else round(self.upstream_ms, 1),
            "video_url": self.video_url,
            "source": self.source,
            "archive": self.archive,
            "archive_ms": None if self.archive_ms is None else round(self.archive_ms, 1),
            "archive_enqueue": self.archive_enqueue,
            "archive_event": self.archive_event,
            "archive_bytes": self.archive_bytes,
            "s3_uri": self.s3_uri,
            "error_type": self.error_type,
            "upstream_status": self.upstream_status,
            "detail": self.detail,
            "batch": None if self.batch is None else self.batch.log_fields(),
        }
        return {key: value for key, value in fields.items() if value is not None}
