"""The demo MP4 fixture is a real, browser-friendly MP4, and headless Chromium plays it through a 302.

Self-contained: two loopback servers started here (a Range-capable file server for the MP4, and a
page whose ``/video`` answers 302 to it), no S3 and no Lambda. Skips only when Debian chromium is
missing (``.ci/install-chromium.sh`` installs it).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import HAVE_CURRENT_DATA, chromium_path, probe_video
from tests.e2e.media_server import LoopbackServer, parse_range, serve_file, serve_redirecting_page

REPO = Path(__file__).resolve().parents[2]
DEMO_MP4 = REPO / "local" / "assets" / "demo.mp4"


def top_level_boxes(data: bytes) -> list[str]:
    """The types of an MP4's top-level boxes, in file order."""
    boxes: list[str] = []
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        elif size == 0:
            size = len(data) - offset
        if size < 8:
            raise ValueError(f"bad box size {size} at offset {offset}")
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def test_demo_mp4_is_small_faststart_h264() -> None:
    data = DEMO_MP4.read_bytes()
    assert data[4:8] == b"ftyp"
    assert len(data) < 200_000
    boxes = top_level_boxes(data)
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat"), f"not faststart: {boxes}"
    assert b"avc1" in data  # H.264 sample entry


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 99)),
        ("bytes=0-9", (0, 9)),
        ("bytes=90-200", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=100-", False),
        ("bytes=5-2", False),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | bool | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.fixture
def media_server() -> Iterator[LoopbackServer]:
    server = serve_file(DEMO_MP4, content_type="video/mp4", route="/demo.mp4").start()
    yield server
    server.stop()


@pytest.fixture
def page_server(media_server: LoopbackServer) -> Iterator[LoopbackServer]:
    server = serve_redirecting_page(media_server.url("/demo.mp4"), title="Browser probe").start()
    yield server
    server.stop()


def test_media_server_answers_ranges(media_server: LoopbackServer) -> None:
    import urllib.request  # noqa: PLC0415

    request = urllib.request.Request(media_server.url("/demo.mp4"), headers={"Range": "bytes=4-7"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 206
        assert response.headers["Content-Type"] == "video/mp4"
        assert response.headers["Content-Range"] == f"bytes 4-7/{DEMO_MP4.stat().st_size}"
        assert response.read() == b"ftyp"


@pytest.mark.slow
@pytest.mark.timeout(45)
def test_chromium_plays_demo_mp4_through_302(
    page_server: LoopbackServer, media_server: LoopbackServer, tmp_path: Path
) -> None:
    if chromium_path() is None:
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (run .ci/install-chromium.sh)")
    shot = tmp_path / "probe.png"

    state = probe_video(page_server.url("/"), screenshot_path=shot, timeout_s=25.0)

    assert state["error"] is None, state
    assert state["readyState"] >= HAVE_CURRENT_DATA, state
    assert state["duration"] == pytest.approx(3.0, abs=0.1), state
    assert state["currentSrc"] == page_server.url("/video")
    assert state["currentTime"] > 0, "screenshot should show a frame after the first"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The browser really went through the redirect and fetched the MP4 with Range requests.
    assert any(r.path == "/video" and r.status == 302 for r in page_server.requests)
    assert any(r.range is not None and r.status == 206 for r in media_server.requests), media_server.requests


@pytest.mark.slow
@pytest.mark.timeout(45)
def test_probe_reports_media_error_for_missing_mp4(media_server: LoopbackServer) -> None:
    if chromium_path() is None:
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (run .ci/install-chromium.sh)")
    server = serve_redirecting_page(media_server.url("/missing.mp4")).start()
    try:
        state = probe_video(server.url("/"), timeout_s=20.0)
    finally:
        server.stop()

    assert state["readyState"] < HAVE_CURRENT_DATA
    assert state["error"] is not None and state["error"].startswith("MediaError"), state
