"""A tiny loopback HTTP server for browser tests: it serves the page whose ``<video>`` points at the API.

For tests only: the product serves the MP4 from (moto) S3 through a presigned URL.
Every server binds 127.0.0.1 on a free port, runs in a daemon thread, and records the requests it
answered (see :class:`LoopbackServer.requests`) so a test can check what the browser really did.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
