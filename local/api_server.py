"""The local stand-in for API Gateway's HTTP API: a ``ThreadingHTTPServer`` on loopback.

Every request becomes the payload-2.0 event (``local.api_event``) and is handed to the function with a
fresh Lambda context, one call at a time (a Lambda container never runs two invocations at once; the
Powertools resolvers keep per-request state), while the server accepts and queues concurrent requests.
"""

from __future__ import annotations

import http
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any, Final

from local.api_event import HttpAnswer, build_event, json_answer, new_request_id, to_http
from local.archive_demo import Invoke
from local.lambda_context import LocalLambdaContext

DEFAULT_PORT: Final = 3000
MAX_BODY_BYTES: Final = 10 * 1024 * 1024  # API Gateway HTTP API's payload limit

_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def _loggable_path(target: str) -> str:
    """The request path for the access log: no query string (it may hold signatures), printable."""
    path = target.partition("?")[0].partition("#")[0]
    return _UNPRINTABLE.sub(lambda m: f"%{ord(m.group()):02X}", path)[:300]


class LocalApi:
    """The API Gateway stand-in: accepts concurrently, invokes the function one call at a time."""

    def __init__(
        self,
        invoke: Invoke,
        *,
        timeout_seconds: float,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        access_log: IO[str] | None = None,
    ) -> None:
        self._invoke = invoke
        self._timeout = timeout_seconds
        self._access_log = access_log
        # Held for each invocation, also by the archive poller's (local.archive_demo).
        self.invoke_lock = threading.Lock()
        self._log_lock = threading.Lock()
        server_cls = type("LocalApiServer", (ThreadingHTTPServer,), {"request_queue_size": 128})
        self._server: ThreadingHTTPServer = server_cls((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalApi:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="local-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def answer(self, event: dict[str, Any]) -> HttpAnswer:
        """Invoke the function with ``event`` (serialized) and translate its answer."""
        request_id = str(event["requestContext"]["requestId"])
        with self.invoke_lock:
            context = LocalLambdaContext(timeout_seconds=self._timeout)  # counts down from here
            try:
                result = self._invoke(event, context)
            except Exception:
                # Lambda reports an unhandled error; API Gateway answers 500 with its own body.
                traceback.print_exc(file=sys.stderr)
                return json_answer(500, {"message": "Internal Server Error"}, request_id)
        return to_http(result, request_id)

    def log_access(self, method: str, target: str, status: int, elapsed_ms: float) -> None:
        stream = self._access_log or sys.stderr
        with self._log_lock:
            stream.write(f"local-api {method} {_loggable_path(target)} {status} {elapsed_ms:.1f} ms\n")
            stream.flush()


def _handler_for(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def __getattr__(self, name: str) -> Callable[[], None]:
            if name.startswith("do_"):  # every method reaches the function, as on a $default route
                return self._serve
            raise AttributeError(name)

        def _serve(self) -> None:
            started = time.perf_counter()
            length = self.headers.get("Content-Length", "0").strip() or "0"
            request_id = new_request_id()
            if not length.isdigit():
                answer = json_answer(400, {"message": "Bad Request"}, request_id)
            elif int(length) > MAX_BODY_BYTES:
                answer = json_answer(413, {"message": "Request Entity Too Large"}, request_id)
                self.close_connection = True
            else:
                body = self.rfile.read(int(length)) if int(length) else b""
                event = build_event(
                    self.command,
                    self.path,
                    self.headers.items(),
                    body,
                    source_ip=self.client_address[0],
                    server_port=api.port,
                    protocol=self.request_version,
                    request_id=request_id,
                )
                answer = api.answer(event)
            self._write(answer)
            api.log_access(self.command, self.path, answer.status, (time.perf_counter() - started) * 1000)

        def _write(self, answer: HttpAnswer) -> None:
            try:
                phrase = http.HTTPStatus(answer.status).phrase
            except ValueError:
                phrase = ""
            no_body = self.command == "HEAD" or answer.status in (204, 304) or answer.status < 200
            try:
                self.send_response_only(answer.status, phrase)
                self.send_header("Date", self.date_time_string())
                for name, value in answer.headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if not no_body:
                    self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Access lines come from ``LocalApi.log_access``; the stdlib's would show query strings."""

    return Handler
