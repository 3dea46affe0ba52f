"""Archive one task: find its copy, or resolve a fresh link and stream the video into the bucket.

Used by the worker (one SQS job) and by a direct invoke with ``"archive": true``. Idempotent: a
copy that is there is the answer, and nothing is downloaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from luma_download.aggregator.transport import VideoStream
from luma_download.archive.store import Archive, find_copy, link_to, store
from luma_download.model import CopyOutcome, Deadline, LinkGetter, elapsed_ms

# Opens the video at a URL the aggregator gave, under the URL rules and the size cap.
Download = Callable[[str, Deadline], VideoStream]


def copy_task(
    task_id: str, deadline: Deadline, *, archive: Archive, resolve: LinkGetter, download: Download
) -> CopyOutcome:
    """``resolve`` must ask the aggregator itself: a cached link may have died with a rotation."""
    started = time.perf_counter()
    found = find_copy(archive, task_id)
    if found is not None:
        return CopyOutcome(
            found, link_to(archive, found, deadline), made=False, archive_ms=elapsed_ms(started)
        )
    looked = elapsed_ms(started)
    fresh = resolve(task_id, deadline)
    copying = time.perf_counter()
    video = download(fresh.link.url, deadline)
    try:
        made = store(archive, task_id, video, source_host=video.source_host)
    finally:
        video.close()
    return CopyOutcome(
        made,
        link_to(archive, made, deadline),
        made=True,
        upstream_ms=fresh.upstream_ms,
        archive_ms=looked + elapsed_ms(copying),
    )
