"""The request path with the archive on: the copy when there is one, else the aggregator and a job.

Composed under the link cache (``cached(archive_first(fetch, ...))``): a cached link answers first,
then the archive, then the aggregator. Neither a failed archive lookup nor a failed enqueue fails
the request; both are noted on the outcome for the request record and its metrics. One failure does:
a copy that is there but cannot be linked to for a misconfiguration (the CloudFront key's secret
missing or not a key CloudFront takes) is ``misconfigured``, as a bad token secret is, not hidden
behind the aggregator.
"""

from __future__ import annotations

import time
from typing import Any

from luma_download.archive.jobs import enqueue
from luma_download.archive.store import Archive, find_copy, link_to
from luma_download.errors import ConfigurationError, LumaDownloadError
from luma_download.model import (
    ArchiveUse,
    Deadline,
    DownloadLink,
    EnqueueResult,
    LinkGetter,
    LinkOutcome,
    StoredCopy,
    elapsed_ms,
)
from luma_download.off_thread import call_within

LOOKUP_SECONDS = 2.0
ENQUEUE_SECONDS = 1.0


def archive_first(fetch: LinkGetter, archive: Archive, *, sqs: Any, queue_url: str) -> LinkGetter:
    """``fetch`` (the aggregator) behind the archive; each aggregator answer puts a job on the queue."""

    def get_link(task_id: str, deadline: Deadline) -> LinkOutcome:
        started = time.perf_counter()
        state: ArchiveUse = "miss"
        notes: list[str] = []
        link: DownloadLink | None = None
        copy: StoredCopy | None = None
        try:
            # A slow S3 may take a third of the time left (at most 2 s): the aggregator gets the rest.
            copy = call_within(
                min(deadline.remaining() / 3, LOOKUP_SECONDS),
                lambda: find_copy(archive, task_id),
                name="archive lookup",
            )
            link = None if copy is None else link_to(archive, copy, deadline)
        except LumaDownloadError as exc:
            if copy is not None and isinstance(exc, ConfigurationError):
                raise
            state = "unavailable"
            step = "lookup" if copy is None else "link"  # a link's: the CloudFront key's passing fault
            notes.append(f"archive {step} failed: {exc.detail or exc.message}")
        except TimeoutError as exc:
            state = "unavailable"
            notes.append(f"archive lookup failed: {exc}")
        if link is not None:
            return LinkOutcome(link, archive="hit", archive_ms=elapsed_ms(started))
        archive_ms = elapsed_ms(started)
        outcome = fetch(task_id, deadline)
        sent: EnqueueResult | None = None
        if queue_url:
            sending = time.perf_counter()
            try:
                failure = call_within(
                    min(deadline.remaining(), ENQUEUE_SECONDS),
                    lambda: enqueue(sqs, queue_url, task_id),
                    name="archive job send",
                )
            except TimeoutError as exc:
                failure = str(exc)
            archive_ms += elapsed_ms(sending)
            sent = "sent" if failure is None else "failed"
            if failure is not None:
                notes.append(f"archive job not sent: {failure}")
        return outcome._replace(
            archive=state,
            archive_ms=archive_ms,
            archive_enqueue=sent,
            archive_detail="; ".join(notes) or None,
        )

    return get_link
