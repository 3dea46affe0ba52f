"""Lambda's Invoke API on loopback, in front of a handler: how a local ASL interpreter's ``Task`` states
reach the real function (``tests/integration/test_state_machine_runs.py``).

``POST /2015-03-31/functions/{FunctionName}/invocations`` with the event as its body answers 200 with
the handler's result as JSON or, when the handler raises, 200 with ``X-Amz-Function-Error: Unhandled``
and ``{"errorType", "errorMessage"}``: Lambda's own shapes, where ``errorType`` is the exception's class
name (what Step Functions' ``Retry`` and ``Catch`` match).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from local.lambda_context import LocalLambdaContext

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"
MAX_EVENT_BYTES = 6 * 1024 * 1024  # Lambda's own limit for a synchronous invocation's payload

Handle = Callable[[Any, Any], Any]


class LambdaBridge:
    """``start()``, then invoke at ``base_url``; ``invocations`` lists (function name, event) as received."""

    def __init__(self, handle: Handle, *, timeout_seconds: float = 15.0) -> None:
        self.handle = handle
        self.timeout_seconds = timeout_seconds
        self.invocations: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> LambdaBridge:
        threading.Thread(target=self._server.serve_forever, name="lambda-bridge", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def invoke(self, function_name: str, event: Any) -> tuple[dict[str, str], Any]:
        """The answer's extra headers and body, as Lambda's Invoke API gives them."""
        with self._lock:
            self.invocations.append((function_name, event))
        try:
            return {}, self.handle(event, LocalLambdaContext(timeout_seconds=self.timeout_seconds))
        except Exception as exc:  # Lambda reports any exception the handler raises this way
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": []}
            return {"X-Amz-Function-Error": "Unhandled"}, error


def _handler_for(bridge: LambdaBridge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            if not (self.path.startswith(INVOKE_PREFIX) and self.path.endswith(INVOKE_SUFFIX)):
                self._send(404, {}, {"message": "not an Invoke path"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_EVENT_BYTES:
                self._send(413, {}, {"message": "payload too large"})
                return
            name = unquote(self.path.removeprefix(INVOKE_PREFIX).removesuffix(INVOKE_SUFFIX))
            event = json.loads(self.rfile.read(length) or b"null")
            headers, body = bridge.invoke(name, event)
            self._send(200, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
