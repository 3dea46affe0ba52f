"""Tiny loopback HTTP servers for browser tests: a file with HTTP Range support, and a redirecting page.

Chromium fetches media with ``Range: bytes=...`` requests and will not play (or seek in) a ``<video>``
whose server ignores them, so :func:`serve_file` answers ``206 Partial Content`` for a single byte
range, ``416`` for an unsatisfiable one, and ``200`` with ``Accept-Ranges: bytes`` otherwise.

These are for tests only: the product serves the MP4 from (moto) S3 through a presigned URL.
Every server binds 127.0.0.1 on a free port, runs in a daemon thread, and records the requests it
answered (see :class:`LoopbackServer.requests`) so a test can check what the browser really did.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Served:
    """One request a :class:`LoopbackServer` answered."""

    method: str
    path: str
    range: str | None
    status: int


@dataclass
class Response:
    """What a route returns: status, headers and body (the body is dropped for HEAD)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Route = Callable[[BaseHTTPRequestHandler], Response]


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal[False] | None:
    """Parse one ``Range: bytes=a-b`` header against a body of ``size`` bytes.

    Returns ``(first, last)`` inclusive for a satisfiable single range, ``None`` when there is no
    usable Range header (missing, malformed or multi-range: the whole body is sent with 200), and
    ``False`` when the range cannot be satisfied (416).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first_s, last_s = match.groups()
    if first_s == "":
        if last_s == "":
            return None
        suffix = int(last_s)  # bytes=-N: the last N bytes
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size or last < first:
        return False
    return first, min(last, size - 1)


def range_response(data: bytes, range_header: str | None, content_type: str) -> Response:
    """Answer a GET for ``data`` honouring a single byte range, as Chromium's media stack expects."""
    size = len(data)
    headers = {"Content-Type": content_type, "Accept-Ranges": "bytes", "Cache-Control": "no-store"}
    span = parse_range(range_header, size)
    if span is False:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(416, headers)
    if span is None:
        return Response(200, headers, data)
    first, last = span
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return Response(206, headers, data[first : last + 1])


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 (free port) dispatching exact paths to routes."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[Served] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _record(self, served: Served) -> None:
        with self._lock:
            self.requests.append(served)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(head=False)

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def _answer(self, *, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                route = server.routes.get(path)
                if route is None:
                    response = Response(404, {"Content-Type": "text/plain"}, b"not found\n")
                else:
                    response = route(self)
                server._record(Served(self.command, path, self.headers.get("Range"), response.status))
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    if not head:
                        self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    # Chromium routinely drops a media request once it has the bytes it wanted.
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet; requests are recorded in ``server.requests``."""

        return Handler


@contextmanager
def running(server: LoopbackServer) -> Iterator[LoopbackServer]:
    """Start ``server`` and always stop it."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def serve_file(path: Path, content_type: str = "video/mp4", route: str = "/demo.mp4") -> LoopbackServer:
    """A (not yet started) server answering ``route`` with the bytes of ``path``, Range-capable."""
    data = path.read_bytes()

    def answer(handler: BaseHTTPRequestHandler) -> Response:
        return range_response(data, handler.headers.get("Range"), content_type)

    return LoopbackServer({route: answer})


def video_page(video_src: str, title: str = "Video probe", caption: str = "") -> bytes:
    """A page with a heading and ``<video id="v">`` at 640x360, muted so autoplay policy never blocks."""
    src = html.escape(video_src, quote=True)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
  body {{ font-family: sans-serif; margin: 24px; background: #f4f4f4; color: #222; }}
  video {{ width: 640px; height: 360px; background: #000; display: block; border: 1px solid #888; }}
  p {{ font-size: 13px; color: #555; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<video id="v" src="{src}" muted playsinline preload="auto"></video>
<p>{html.escape(caption)}</p>
</body></html>
""".encode()


def serve_redirecting_page(
    target_url: str, title: str = "Video probe", caption: str = "", video_path: str = "/video"
) -> LoopbackServer:
    """A (not yet started) server: ``/`` is a video page, ``video_path`` answers 302 to ``target_url``."""
    page = video_page(video_path, title, caption or f"{video_path} -> 302 -> {target_url}")

    def index(_: BaseHTTPRequestHandler) -> Response:
        return Response(200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page)

    def redirect(_: BaseHTTPRequestHandler) -> Response:
        return Response(302, {"Location": target_url, "Cache-Control": "no-store"})

    return LoopbackServer({"/": index, video_path: redirect})
