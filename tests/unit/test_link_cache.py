from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from luma_download.errors import VideoNotReadyError
from luma_download.link_cache import LinkCache, cached
from luma_download.model import Deadline, DownloadLink, LinkOutcome

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


def link(task_id: str, expires_in: timedelta | None = timedelta(hours=1)) -> DownloadLink:
    return DownloadLink(
        task_id,
        f"https://x.lumalabs.ai/{task_id}.mp4",
        (T0 + expires_in).timestamp() if expires_in else None,
    )


def test_a_link_is_served_until_its_expiry_less_the_margin() -> None:
    clock = Clock()
    cache = LinkCache(max_entries=8, margin_seconds=300, clock=clock)
    cache.put(link("a"))

    clock.now += 3300 - 1
    assert cache.get("a") == LinkOutcome(link("a"), link_cache="hit")
    clock.now += 1
    assert cache.get("a") is None


def test_links_without_expiry_or_about_to_die_are_not_kept() -> None:
    cache = LinkCache(max_entries=8, margin_seconds=300, clock=Clock())
    cache.put(link("unknown", None))
    cache.put(link("dying", timedelta(minutes=4)))

    assert cache.get("unknown") is None
    assert cache.get("dying") is None
    assert len(cache) == 0


def test_the_least_recently_used_goes_first_and_size_stays_bounded() -> None:
    cache = LinkCache(max_entries=3, margin_seconds=300, clock=Clock())
    for task_id in "abc":
        cache.put(link(task_id))
    assert cache.get("a") is not None  # a is now the most recently used

    cache.put(link("d"))

    assert cache.get("b") is None
    assert {t for t in "acd" if cache.get(t)} == set("acd")
    for i in range(1000):
        cache.put(link(f"id-{i}"))
    assert len(cache) == 3


def test_zero_entries_disables_the_cache() -> None:
    cache = LinkCache(max_entries=0, margin_seconds=300, clock=Clock())
    cache.put(link("a"))
    assert cache.get("a") is None


def test_concurrent_use_is_safe() -> None:
    cache = LinkCache(max_entries=64, margin_seconds=300, clock=Clock())
    failures: list[BaseException] = []

    def churn(offset: int) -> None:
        try:
            for i in range(2000):
                cache.put(link(f"id-{(i + offset) % 200}"))
                cache.get(f"id-{(i * 7) % 200}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert len(cache) <= 64


def test_cached_getter_asks_once_and_never_remembers_errors() -> None:
    calls: list[str] = []
    state = {"ready": False}

    def fetch(task_id: str, deadline: Deadline) -> LinkOutcome:
        calls.append(task_id)
        if not state["ready"]:
            raise VideoNotReadyError("not yet")
        return LinkOutcome(link(task_id, timedelta(days=365 * 10)), upstream_ms=12.5)

    get_link = cached(fetch, LinkCache(8, 300))
    deadline = Deadline(5)

    for _ in range(2):
        with pytest.raises(VideoNotReadyError) as raised:
            get_link("a", deadline)
        assert raised.value.link_cache == "miss"
    state["ready"] = True
    first = get_link("a", deadline)
    second = get_link("a", deadline)

    assert first.link == second.link
    assert (first.link_cache, first.upstream_ms) == ("miss", 12.5)
    assert (second.link_cache, second.upstream_ms) == ("hit", None)  # the aggregator was not asked
    assert calls == ["a", "a", "a"]  # two not-ready answers were not cached; the link was


def test_with_the_archive_on_an_aggregator_link_is_kept_only_until_the_recheck() -> None:
    clock = Clock()
    cache = LinkCache(max_entries=8, margin_seconds=300, clock=clock, recheck_seconds=60)
    cache.put(link("a"))
    cache.put(link("copy")._replace(source="archive"))

    clock.now += 60 - 1
    assert cache.get("a") is not None
    clock.now += 1
    assert cache.get("a") is None  # the archive is asked again
    assert cache.get("copy") is not None  # a link to a copy lives until its expiry less the margin
    clock.now += 3300 - 60 - 1
    assert cache.get("copy") is not None
    clock.now += 1
    assert cache.get("copy") is None


def test_a_zero_recheck_keeps_no_aggregator_link() -> None:
    cache = LinkCache(max_entries=8, margin_seconds=300, clock=Clock(), recheck_seconds=0)
    cache.put(link("a"))
    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_miss_keeps_what_the_lookup_said_about_the_archive() -> None:
    def fetch(task_id: str, deadline: Deadline) -> LinkOutcome:
        return LinkOutcome(link(task_id), upstream_ms=3.0, archive="miss", archive_enqueue="sent")

    outcome = cached(fetch, LinkCache(8, 300))("a", Deadline(5))

    assert (outcome.link_cache, outcome.archive, outcome.archive_enqueue) == ("miss", "miss", "sent")
