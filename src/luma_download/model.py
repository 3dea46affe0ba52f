"""The data every module shares: a download link, a request's time budget, and what a lookup did."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

LinkSource = Literal["aggregator"]
LinkCacheUse = Literal["hit", "miss"]


@dataclass(frozen=True, slots=True)
class DownloadLink:
    task_id: str
    url: str
    expires_at: datetime | None
    source: LinkSource = "aggregator"
    # Redacted once when the link is made; a cached link is logged on every hit.
    log_url: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """What a link lookup did: the link, whether the cache answered, and the time spent upstream."""

    link: DownloadLink
    upstream_ms: float | None = None  # None: the aggregator was not asked
    link_cache: LinkCacheUse | None = None  # None: no cache in front of the lookup


class Deadline:
    """The time this invocation may still spend waiting, less a reserve to answer."""

    __slots__ = ("_ends_at",)

    def __init__(self, seconds: float) -> None:
        self._ends_at = time.monotonic() + seconds

    @classmethod
    def from_context(cls, context: object, *, reserve: float = 1.0, default: float = 14.0) -> Deadline:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining_ms() / 1000 if callable(remaining_ms) else default
        return cls(seconds - reserve)

    def remaining(self) -> float:
        return self._ends_at - time.monotonic()


# Finds a validated task's link before ``Deadline``: says what it did, or raises a ``LumaDownloadError``.
LinkGetter = Callable[[str, Deadline], LinkOutcome]
