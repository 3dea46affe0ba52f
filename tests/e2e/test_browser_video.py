"""A real browser plays the demo video through ``make run``: page -> local API -> 302 -> the MP4.

The page is served from here on loopback; its ``<video>`` src is the completed demo task's URL on the
local API (``python -m local.run`` as a subprocess). Headless Debian Chromium follows the 302 to the
presigned-style link (the aggregator simulator's, or once archived the copy's on the embedded S3)
and must decode a frame. The screenshot is the one the README
shows (``docs/browser-demo.png``). Skips only when chromium is missing (``.ci/install-chromium.sh``).
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.e2e.browser import HAVE_CURRENT_DATA, chromium_path, probe_video
from tests.e2e.conftest import LocalRunProcess
from tests.e2e.media_server import LoopbackServer, Response, running, video_page

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "browser-demo.png"


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_chromium_plays_the_completed_demo_task(local_run: LocalRunProcess) -> None:
    if chromium_path() is None:
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (run .ci/install-chromium.sh)")
    video_url = local_run.task_urls["completed"]
    task_id = video_url.split("/")[-2]
    page = video_page(
        video_url,
        title="luma-download: make run",
        caption=f"task {task_id}: local API 302 -> presigned link -> the MP4 (the aggregator's or our copy)",
    )

    def index(_: BaseHTTPRequestHandler) -> Response:
        return Response(200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page)

    with running(LoopbackServer({"/": index})) as site:
        state = probe_video(site.url("/"), screenshot_path=SCREENSHOT, timeout_s=45.0)

    assert state["error"] is None, state
    assert state["readyState"] >= HAVE_CURRENT_DATA, state
    assert state["duration"] > 0, state
    assert state["currentSrc"] == video_url
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The browser asked the local API (the access line), which redirected it.
    path = f"/luma/generations/{task_id}/download_video_url"
    assert any(line.startswith(f"local-api GET {path} 302 ") for line in local_run.stderr_lines), (
        local_run.stderr_lines[-20:]
    )
