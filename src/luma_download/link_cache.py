"""Remember each task's link until shortly before its presigned URL dies (per warm container).

A repeat request for the same task then costs no aggregator call (quota, maybe money) and no
Secrets Manager read. Bounded by ``URL_CACHE_MAX_ENTRIES`` (least recently used out first); only
links with a known expiry are kept; errors and not-ready answers are never cached. With the archive
on, an aggregator link is kept at most ``recheck_seconds``, so a copy made since is found soon.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from luma_download.errors import LumaDownloadError
from luma_download.model import Deadline, DownloadLink, LinkGetter, LinkOutcome


class LinkCache:
    def __init__(
        self,
        max_entries: int,
        margin_seconds: int,
        clock: Callable[[], float] = time.time,
        *,
        recheck_seconds: int | None = None,
    ) -> None:
        self._margin = margin_seconds
        self._clock = clock
        self._recheck = recheck_seconds
        self._max_entries = max_entries
        # Least recently used first; each entry keeps the instant it stops being served, and the
        # answer a hit gives, built once. The standard library's LRU recipe: every step is one C call
        # (cachetools' LRUCache takes about ten Python calls to insert past its bound, which every
        # cache miss of a full cache does).
        self._links: OrderedDict[str, tuple[float, LinkOutcome]] = OrderedDict()
        # The local server and a batch's workers may call in from several threads at once.
        self._lock = threading.Lock()

    def _usable_until(self, link: DownloadLink, now: float) -> float:
        assert link.expires_at is not None  # put() keeps only links with an expiry
        until = link.expires_at - self._margin
        if self._recheck is not None and link.source == "aggregator":
            return min(until, now + self._recheck)
        return until

    def get(self, task_id: str) -> LinkOutcome | None:
        """The task's link as a cache hit's outcome, while it is usable."""
        with self._lock:
            entry = self._links.get(task_id)
            if entry is None:
                return None
            usable_until, hit = entry
            if usable_until <= self._clock():
                del self._links[task_id]
                return None
            self._links.move_to_end(task_id)
            return hit

    def put(self, link: DownloadLink) -> None:
        if self._max_entries <= 0 or link.expires_at is None:
            return
        now = self._clock()
        usable_until = self._usable_until(link, now)
        if usable_until <= now:
            return  # already inside the margin: caching it would serve a link about to die
        with self._lock:
            self._links[link.task_id] = (usable_until, LinkOutcome(link, link_cache="hit"))
            self._links.move_to_end(link.task_id)
            if len(self._links) > self._max_entries:
                self._links.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._links.clear()

    def __len__(self) -> int:
        return len(self._links)


def cached(fetch: LinkGetter, cache: LinkCache) -> LinkGetter:
    """``fetch`` behind ``cache``: hits answer from memory, misses ask the aggregator and remember."""

    def get_link(task_id: str, deadline: Deadline) -> LinkOutcome:
        hit = cache.get(task_id)
        if hit is not None:
            return hit
        try:
            outcome = fetch(task_id, deadline)
        except LumaDownloadError as exc:
            exc.link_cache = "miss"
            raise
        cache.put(outcome.link)
        return outcome._replace(link_cache="miss")

    return get_link
