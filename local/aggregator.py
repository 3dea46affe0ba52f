"""An aggregator simulator: a real HTTP server on loopback that speaks the resellers' Luma API.

Used by the integration tests, the end-to-end tests, ``make run`` and ``make bench``. It serves

- ``GET /luma/generations/{id}/download_video_url``: 200 ``{"url": ...}`` once the task has completed,
  400 before (as the resellers do), 404 for unknown tasks, 401 for a wrong token;
- ``GET /luma/generations/{id}``: the task, with ``state``, ``failure_reason`` and ``video.download_url``;
- ``GET /files/{name}?account=...&X-Amz-...``: a video it stores itself (``serve_file``), as the
  reseller's storage would, through links shaped like presigned ones (byte ranges answered 206).

``rotate_accounts()`` (or ``POST /simulator/rotate-accounts``) plays a reseller rotating its Luma
accounts: every task it knew answers 404, and every file link signed before answers 403. Tests can
also script exact answers per path (status, headers, body, delay) to play a misbehaving aggregator,
and read back every request it received.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DOWNLOAD_PREFIX = "/luma/generations/"
DOWNLOAD_SUFFIX = "/download_video_url"
FILES_PREFIX = "/files/"
ROTATE_PATH = "/simulator/rotate-accounts"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
FILE_LINK_SECONDS = 3600
_WRITE_CHUNK = 1024 * 1024


@dataclass
class FakeTask:
    """A task as the aggregator knows it. ``url`` may be a callable, to presign on each request."""

    state: str = "completed"
    url: str | Callable[[], str] | None = None
    failure_reason: str | None = None
    publish_url_in_task: bool = True

    def current_url(self) -> str | None:
        return self.url() if callable(self.url) else self.url


@dataclass
class Reply:
    """One scripted answer; ``delay`` seconds pass before the status line is sent."""

    status: int = 200
    body: bytes | dict[str, Any] | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class ServedFile:
    """A video the simulator serves: bytes, or a file read in chunks (large videos stay on disk).

    ``cut_after``: send the full ``Content-Length`` but close the connection after that many bytes
    (once ``before_cut`` returns, when given: a test waits there for what the client has started).
    ``reply``: answer this instead of the file (a redirect, an error page, ...).
    """

    data: bytes | Path
    cut_after: int | None = None
    reply: Reply | None = None
    before_cut: Callable[[], None] | None = None

    @property
    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; the whole file by default), at most ``cut_after``."""
        limit = self.size if end is None else end
        if self.cut_after is not None:
            limit = min(limit, self.cut_after)
        if isinstance(self.data, bytes):
            for offset in range(start, limit, _WRITE_CHUNK):
                yield self.data[offset : min(offset + _WRITE_CHUNK, limit)]
            return
        with self.data.open("rb") as source:
            source.seek(start)
            left = limit - start
            while left > 0:
                chunk = source.read(min(_WRITE_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    authorization: str | None
    user_agent: str | None = None


class Aggregator:
    """Start with ``start()``; ``base_url`` is then the value for ``UPSTREAM_BASE_URL``."""

    def __init__(
        self, tokens: Iterable[str] = ("demo-token",), host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.valid_tokens: set[str] = set(tokens)
        self.tasks: dict[str, FakeTask] = {}
        self.files: dict[str, ServedFile] = {}
        self.account = 1  # the Luma account in use; file links name the one that signed them
        self.requests: list[SeenRequest] = []
        self.connections = 0  # TCP connections accepted: keep-alive reuse shows as fewer than requests
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._host = host
        self._server = _QuietServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> Aggregator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="aggregator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies``, in order, before normal service."""
        with self._lock:
            self._scripts[path].extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.tasks.clear()
            self.files.clear()
            self.requests.clear()
            self.connections = 0
            self._scripts.clear()
            self.account = 1

    def serve_file(
        self,
        name: str,
        data: bytes | Path,
        *,
        cut_after: int | None = None,
        before_cut: Callable[[], None] | None = None,
    ) -> Callable[[], str]:
        """Serve ``data`` at ``/files/<name>``; return a signer of fresh links to it (a ``FakeTask.url``)."""
        self.files[name] = ServedFile(data, cut_after=cut_after, before_cut=before_cut)

        def sign() -> str:
            return self.file_link(name)

        return sign

    def file_link(self, name: str, account: int | None = None) -> str:
        """A link to a served file, shaped like a SigV4 presigned URL, signed by ``account`` (now's)."""
        account = self.account if account is None else account
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        signature = hashlib.sha256(f"{name}/{account}/{stamp}".encode()).hexdigest()
        return (
            f"{self.base_url}{FILES_PREFIX}{name}?account={account}&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Date={stamp}&X-Amz-Expires={FILE_LINK_SECONDS}&X-Amz-SignedHeaders=host"
            f"&X-Amz-Signature={signature}"
        )

    def rotate_accounts(self) -> None:
        """The reseller moves to new Luma accounts: its tasks answer 404, its old file links 403."""
        with self._lock:
            self.account += 1
            self.tasks.clear()

    def file_requests(self, name: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == f"{FILES_PREFIX}{name}"]

    def requests_for(self, task_id: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(f"{DOWNLOAD_PREFIX}{task_id}")]

    # -- serving ---------------------------------------------------------------------------------

    def file_answer(self, path: str, authorization: str | None, user_agent: str | None) -> ServedFile | Reply:
        """A file, or the refusal: unknown name 404, a link signed by an account before now 403."""
        parts = urlsplit(path)
        with self._lock:
            self.requests.append(SeenRequest("GET", path, authorization, user_agent))
            served = self.files.get(parts.path.removeprefix(FILES_PREFIX))
            account = self.account
        if served is None:
            return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
        if served.reply is not None:
            return served.reply
        if parse_qs(parts.query).get("account") != [str(account)]:
            return Reply(
                403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"}
            )
        return served

    def answer(
        self, method: str, path: str, authorization: str | None, user_agent: str | None = None
    ) -> Reply:
        with self._lock:
            self.requests.append(SeenRequest(method, path, authorization, user_agent))
            scripted = self._scripts.get(path)
            if scripted:
                return scripted.popleft()
        token = (authorization or "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return Reply(401, {"error": {"message": "invalid token", "type": "invalid_request_error"}})
        if not path.startswith(DOWNLOAD_PREFIX):
            return Reply(404, {"detail": "Not Found"})
        rest = path.removeprefix(DOWNLOAD_PREFIX)
        if rest.endswith(DOWNLOAD_SUFFIX):
            return self._download_url(rest.removesuffix(DOWNLOAD_SUFFIX))
        return self._task(rest)

    def _download_url(self, task_id: str) -> Reply:
        task = self.tasks.get(task_id)
        if task is None:
            return Reply(404, {"detail": "task not found"})
        url = task.current_url()
        if task.state != "completed" or url is None:
            return Reply(400, {"detail": {"reason": "task is not completed", "code": 1}})
        return Reply(200, {"url": url})

    def _task(self, task_id: str) -> Reply:
        task = self.tasks.get(task_id)
        if task is None:
            return Reply(404, {"detail": "task not found"})
        url = task.current_url() if task.publish_url_in_task else None
        document = {
            "id": task_id,
            "state": task.state,
            "failure_reason": task.failure_reason,
            "video": {"url": url, "download_url": url} if url and task.state == "completed" else None,
        }
        return Reply(200, document)


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is part of what is simulated, not a fault


def _handler_for(aggregator: Aggregator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

        def setup(self) -> None:  # once per connection; handle() then serves its requests in turn
            super().setup()
            with aggregator._lock:
                aggregator.connections += 1

        def do_GET(self) -> None:
            if self.path.startswith(FILES_PREFIX):
                answer = aggregator.file_answer(
                    self.path, self.headers.get("Authorization"), self.headers.get("User-Agent")
                )
                if isinstance(answer, ServedFile):
                    self._send_file(answer)
                    return
                self._send(answer)
                return
            self._send(
                aggregator.answer(
                    "GET", self.path, self.headers.get("Authorization"), self.headers.get("User-Agent")
                )
            )

        def do_POST(self) -> None:
            if self.path != ROTATE_PATH:
                self._send(Reply(404, {"detail": "Not Found"}))
                return
            aggregator.rotate_accounts()
            self._send(Reply(200, {"account": aggregator.account, "tasks": "forgotten", "old_links": 403}))

        def _send_file(self, served: ServedFile) -> None:
            # One byte range, as browsers ask for media (and storage services answer: 206).
            size = served.size
            start, end = 0, size
            wanted = _RANGE.fullmatch(self.headers.get("Range", "").strip())
            if wanted and (wanted[1] or wanted[2]) and served.cut_after is None:
                if wanted[1]:
                    start, end = int(wanted[1]), min(int(wanted[2]) + 1 if wanted[2] else size, size)
                else:
                    start = max(size - int(wanted[2]), 0)
                if start >= end:
                    self._send(Reply(416, b"", {"Content-Range": f"bytes */{size}"}))
                    return
            try:
                if (start, end) == (0, size):
                    self.send_response(200)
                else:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(end - start))
                self.end_headers()
                for chunk in served.chunks(start, end):
                    self.wfile.write(chunk)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up
            if served.cut_after is not None:
                if served.before_cut is not None:
                    served.before_cut()
                self.close_connection = True  # the body ends short of its Content-Length

        def _send(self, reply: Reply) -> None:
            if reply.delay:
                time.sleep(reply.delay)
            body = reply.body
            if isinstance(body, dict):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            try:
                self.send_response(reply.status)
                headers = {
                    "Content-Type": "application/json",
                    "Content-Length": str(len(body)),
                    **reply.headers,
                }
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeouts are part of what is tested)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
