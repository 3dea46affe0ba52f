from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from luma_download.front_doors.http_api import cache_control, wants_json
from luma_download.model import DownloadLink

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_in", "header"),
    [
        (timedelta(hours=1), "private, max-age=3300"),
        (timedelta(minutes=6), "private, max-age=60"),
        (timedelta(minutes=4), "private, max-age=0"),
        (timedelta(hours=-1), "private, max-age=0"),
    ],
)
def test_cache_control_counts_down_to_five_minutes_before_expiry(expires_in: timedelta, header: str) -> None:
    link = DownloadLink("t", "https://x.lumalabs.ai/v.mp4", (NOW + expires_in).timestamp())
    assert cache_control(link, NOW.timestamp(), 300) == header


def test_unknown_expiry_is_no_store() -> None:
    assert (
        cache_control(DownloadLink("t", "https://x.lumalabs.ai/v.mp4", None), NOW.timestamp(), 300)
        == "no-store"
    )


@pytest.mark.parametrize(
    ("accept", "query", "expected"),
    [
        ("application/json", None, True),
        ({"Accept": "application/json"}, None, True),  # a REST API sends the name as the client did
        ({"ACCEPT": "text/html", "x-accept": "application/json"}, None, False),
        ("text/html, application/json;q=0.9", None, True),
        ("Application/JSON", None, True),
        ("*/*", {"format": "json"}, True),
        (None, {"format": "json"}, True),
        ("*/*", None, False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", {"format": "mp4"}, False),
        (None, None, False),
    ],
)
def test_json_is_chosen_by_accept_or_format(
    accept: str | dict[str, str] | None, query: dict[str, str] | None, expected: bool
) -> None:
    headers = {"accept": accept} if isinstance(accept, str) else accept
    assert wants_json(headers, query) is expected
