"""The data every module shares: a download link, a request's time budget, what a lookup did, a copy."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, NamedTuple

LinkSource = Literal["aggregator", "archive"]
LinkCacheUse = Literal["hit", "miss"]
# What the archive did for a lookup: served the copy, had none, or could not be asked.
ArchiveUse = Literal["hit", "miss", "unavailable"]
EnqueueResult = Literal["sent", "failed"]


# Records are NamedTuples: cheaper than frozen dataclasses to build, to copy with a change (a cache
# miss does both) and to define (a slotted frozen dataclass costs about 1 ms of every cold start).
class DownloadLink(NamedTuple):
    task_id: str
    url: str
    expires_at: float | None  # epoch seconds, as time.time() counts; None: unknown
    source: LinkSource = "aggregator"
    # Redacted once when the link is made (``url_rules.link_facts``); a cached link is logged on every hit.
    log_url: str = ""


class LinkOutcome(NamedTuple):
    """What a link lookup did: the link, whether the cache answered, and the time spent upstream."""

    link: DownloadLink
    upstream_ms: float | None = None  # None: the aggregator was not asked
    link_cache: LinkCacheUse | None = None  # None: no cache in front of the lookup
    archive: ArchiveUse | None = None  # None: archiving is off
    archive_ms: float | None = None  # time spent on S3 and SQS for this lookup
    archive_enqueue: EnqueueResult | None = None  # None: no archive job was due
    archive_detail: str | None = None  # why the archive could not be asked or the job not sent


class Provenance(NamedTuple):
    """What is known of a copy only while it is made: the whole file's SHA-256 (lower-case hex), its
    Content-Type, when it was made (UTC, whole seconds: as its ``archived-at`` metadata) and the host
    it came from. Its ``Video Archived`` event says them."""

    sha256: str
    content_type: str
    archived_at: datetime
    source_host: str


class StoredCopy(NamedTuple):
    """A task's video in the archive bucket."""

    task_id: str
    bucket: str
    key: str
    size: int
    provenance: Provenance | None = None  # None: a copy found there, not made by this call

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class CopyOutcome(NamedTuple):
    """What archiving one task did: the copy, a link to it, and whether it was made now or found."""

    copy: StoredCopy
    link: DownloadLink
    made: bool
    upstream_ms: float | None = None  # None: the aggregator was not asked (the copy was there)
    archive_ms: float | None = None  # time spent on S3 and on the download


class ArchiveEvents(NamedTuple):
    """Where the archive worker tells what its jobs did (``archive.events``), for the container's life:
    the EventBridge client, the bus (name or ARN), and the queue's ``maxReceiveCount`` (a job that
    fails on that receive goes to the dead-letter queue next)."""

    client: Any
    bus: str
    max_receives: int


class Deadline:
    """The time this invocation may still spend waiting, less a reserve to answer."""

    __slots__ = ("_context", "_ends_at", "_reserve")

    def __init__(self, seconds: float) -> None:
        self._ends_at: float | None = time.monotonic() + seconds
        self._context: object = None
        self._reserve = 0.0

    @classmethod
    def from_context(cls, context: object, *, reserve: float = 1.0) -> Deadline:
        """The invocation's own deadline; read from ``context`` when first needed (a cache hit never
        needs it), which gives the same instant: Lambda counts down to a fixed end."""
        deadline = cls.__new__(cls)
        deadline._ends_at, deadline._context, deadline._reserve = None, context, reserve
        return deadline

    def remaining(self) -> float:
        if self._ends_at is None:
            remaining_ms = getattr(self._context, "get_remaining_time_in_millis", None)
            seconds = remaining_ms() / 1000 if callable(remaining_ms) else DEFAULT_BUDGET_SECONDS
            self._ends_at = time.monotonic() + seconds - self._reserve
        return self._ends_at - time.monotonic()


# Without a Lambda context (a hand-made call): the template's timeout, 15 s, less the reserve.
DEFAULT_BUDGET_SECONDS = 14.0


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return (time.perf_counter() - started) * 1000


# Finds a validated task's link before ``Deadline``: says what it did, or raises a ``LumaDownloadError``.
LinkGetter = Callable[[str, Deadline], LinkOutcome]
# Archives a validated task before ``Deadline`` (or finds its copy): ``archive_copy.copy_task`` does it.
Archiver = Callable[[str, Deadline], CopyOutcome]
