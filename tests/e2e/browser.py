"""Drive headless Debian Chromium to check that a page's ``<video id="v">`` really loads and decodes.

Driver: Python Playwright (pinned in requirements-dev.txt) against the system browser at
``/usr/bin/chromium`` (Debian package ``chromium``; ``.ci/install-chromium.sh`` installs it).
Never run ``playwright install``: it downloads its own browser build, which this network refuses.

Typical use in a test::

    if chromium_path() is None:
        pytest.skip("Debian chromium is not installed (run .ci/install-chromium.sh)")
    state = probe_video("http://127.0.0.1:PORT/", screenshot_path=tmp_path / "page.png")
    assert state["readyState"] >= 2 and state["duration"] > 0 and state["error"] is None
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

CHROMIUM = Path("/usr/bin/chromium")

# Flags this machine needs: root (no sandbox), no GPU, no network beyond loopback (nothing that phones
# home), a small /dev/shm in containers, and media that may start without a user gesture.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
)

HAVE_CURRENT_DATA = 2

_READY_OR_FAILED = """() => {
  const v = document.getElementById('v');
  return !!v && (v.readyState >= 2 || v.error !== null);
}"""

_STATE = """() => {
  const v = document.getElementById('v');
  if (!v) return null;
  const e = v.error;
  return {
    readyState: v.readyState,
    duration: v.duration,
    error: e ? `MediaError code ${e.code}${e.message ? ': ' + e.message : ''}` : null,
    currentSrc: v.currentSrc,
    currentTime: v.currentTime,
  };
}"""

# Pause on a frame > 0 so the screenshot shows picture, not the black before the first frame.
_SEEK_AND_PAUSE = """async (budgetMs) => {
  const v = document.getElementById('v');
  v.pause();
  const target = Number.isFinite(v.duration) && v.duration > 0 ? Math.min(1.5, v.duration / 2) : 0.5;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, budgetMs);
    v.addEventListener('seeked', () => { clearTimeout(timer); resolve(); }, { once: true });
    v.currentTime = target;
  });
  const until = Date.now() + budgetMs;
  while (v.readyState < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return v.currentTime;
}"""


class VideoState(TypedDict):
    """What :func:`probe_video` saw of ``<video id="v">``."""

    readyState: int  # HTMLMediaElement.readyState; >= 2 means a frame is decoded
    duration: float  # seconds; 0.0 while unknown (NaN) or for an unbounded stream
    error: str | None  # the element's MediaError, a missing element, or the timeout; None when fine
    currentSrc: str  # the URL the element resolved (the page's src, before redirects)
    currentTime: float  # seconds; after a screenshot, the paused frame's time


def chromium_path() -> str | None:
    """``/usr/bin/chromium`` when Debian's chromium is installed, else None."""
    return str(CHROMIUM) if CHROMIUM.is_file() else None


def _state(raw: Any) -> VideoState:
    if raw is None:
        return {
            "readyState": 0,
            "duration": 0.0,
            "error": 'no <video id="v"> on the page',
            "currentSrc": "",
            "currentTime": 0.0,
        }
    duration = float(raw.get("duration") or 0.0)
    return {
        "readyState": int(raw.get("readyState") or 0),
        "duration": duration if math.isfinite(duration) else 0.0,
        "error": raw.get("error"),
        "currentSrc": str(raw.get("currentSrc") or ""),
        "currentTime": float(raw.get("currentTime") or 0.0),
    }


def probe_video(page_url: str, screenshot_path: Path | None = None, timeout_s: float = 30.0) -> VideoState:
    """Open ``page_url`` in headless Chromium and report its ``<video id="v">`` once it has a frame.

    Waits (bounded by ``timeout_s`` overall, browser start included) until the video's readyState is
    at least 2 (HAVE_CURRENT_DATA) or it reports a MediaError. If it never gets there and has no
    MediaError, ``error`` says so. With ``screenshot_path``, the video is paused on a frame > 0 and
    the viewport (1280x720) is saved as PNG. The browser and its temporary profile are always removed.
    Raises RuntimeError when Chromium is missing; Playwright errors other than timeouts propagate.
    """
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Debian chromium not found at /usr/bin/chromium (run .ci/install-chromium.sh)")
    from playwright.sync_api import Error as PlaywrightError  # noqa: PLC0415 - optional dependency
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s

    def remaining_ms(floor_ms: float = 1000.0) -> float:
        return max(floor_ms, (deadline - time.monotonic()) * 1000.0)

    profile = Path(tempfile.mkdtemp(prefix="probe-chromium-"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=executable,
                headless=True,
                args=list(CHROMIUM_ARGS),
                timeout=remaining_ms(),
                viewport={"width": 1280, "height": 720},
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(remaining_ms())
                page.goto(page_url, wait_until="load", timeout=remaining_ms())
                timed_out = False
                try:
                    page.wait_for_function(_READY_OR_FAILED, timeout=remaining_ms(), polling=100)
                except PlaywrightTimeout:
                    timed_out = True
                state = _state(page.evaluate(_STATE))
                if timed_out and state["error"] is None:
                    state["error"] = (
                        f"timed out after {timeout_s:g}s with readyState={state['readyState']} "
                        f"(wanted >= {HAVE_CURRENT_DATA})"
                    )
                if screenshot_path is not None:
                    if state["readyState"] >= HAVE_CURRENT_DATA:
                        budget = min(5000.0, remaining_ms(2000.0))
                        with contextlib.suppress(PlaywrightError):  # still shoot whatever is there
                            page.evaluate(_SEEK_AND_PAUSE, budget)
                        state["currentTime"] = _state(page.evaluate(_STATE))["currentTime"]
                    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshot_path), timeout=remaining_ms(5000.0))
                return state
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
