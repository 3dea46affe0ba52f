"""A scripted HTTP server on raw loopback sockets: every byte of every answer is the script's.

``local.aggregator`` is a well-behaved simulator built on ``http.server``; this one plays an HTTP peer
at its worst. It hangs, drips one byte at a time, closes or resets mid-answer, refuses connections, and
sends what no HTTP library would write. The fault-injection tests (``tests/faults``) use it for the
aggregator, and ``local.faulty_aws`` builds a faulty Secrets Manager on it.

An answer is a tuple of actions (``Send``, ``Drip``, ``Pause``, ``Close``, ``Reset``); a responder
picks one for each request read. ``abort()`` cuts every connection at once and resets new ones (a
watchdog's kill switch); ``go_down()`` makes the port refuse connections; a server never started
refuses them from the start (its port stays reserved, so nothing else can answer there).
"""

from __future__ import annotations

import http
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

HOST = "127.0.0.1"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_REQUESTS_PER_CONNECTION = 100
IDLE_SECONDS = 10.0  # a kept-alive connection with no new request is closed after this
LONGEST_WAIT = 60.0  # no Pause lasts longer, and no server lives longer than MAX_LIFETIME
MAX_LIFETIME = 600.0
SEND_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class Drip:
    """``data`` one byte at a time, ``interval`` seconds apart."""

    data: bytes
    interval: float


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


@dataclass(frozen=True, slots=True)
class Close:
    """End of stream (FIN): the peer reads what was sent, then nothing more."""


@dataclass(frozen=True, slots=True)
class Reset:
    """Connection reset (RST): the peer's next read or write fails."""


Action = Send | Drip | Pause | Close | Reset
Answer = tuple[Action, ...]
HANG: Answer = (Pause(LONGEST_WAIT),)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""


Responder = Callable[[SeenRequest], Answer]
Headers = Sequence[tuple[str, str]]


def http_bytes(
    status: int, body: bytes = b"", headers: Headers = (), *, framed: bool = True, version: str = "HTTP/1.1"
) -> bytes:
    """An HTTP/1.1 answer (or ``version``'s). ``framed`` adds ``Content-Length`` unless ``headers``
    frame the body already; unframed, the body ends where the connection does (``Close``)."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Whatever"
    names = {name.lower() for name, _ in headers}
    if framed and not names & {"content-length", "transfer-encoding"}:
        headers = [*headers, ("Content-Length", str(len(body)))]
    lines = [f"{version} {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def reply(
    status: int, body: bytes = b"", headers: Headers = (("Content-Type", "application/json"),)
) -> Answer:
    return (Send(http_bytes(status, body, headers)),)


def chunked(body: bytes, size: int = 8192, *, terminated: bool = True) -> bytes:
    """``body`` in the chunked transfer coding; without the last chunk when not ``terminated``."""
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    )
    return out + (b"0\r\n\r\n" if terminated else b"")


class Script:
    """Answers by path, in order; a path's last answer then repeats; other paths get ``otherwise``."""

    def __init__(self, answers: Mapping[str, Sequence[Answer]], otherwise: Answer | None = None) -> None:
        self._answers = {path: list(sequence) for path, sequence in answers.items()}
        self._served: dict[str, int] = {}
        self._otherwise = otherwise or reply(404, b'{"detail": "Not Found"}')
        self._lock = threading.Lock()

    def __call__(self, request: SeenRequest) -> Answer:
        sequence = self._answers.get(request.path)
        if not sequence:
            return self._otherwise
        with self._lock:
            index = self._served.get(request.path, 0)
            self._served[request.path] = index + 1
        return sequence[min(index, len(sequence) - 1)]


class HostileServer:
    """Bound to a loopback port at once; ``start()`` begins accepting. ``stop()`` always, when done."""

    def __init__(self, respond: Responder) -> None:
        self._respond = respond
        self._socket = _bound_socket(0)
        self.port: int = self._socket.getsockname()[1]
        self._requests: list[SeenRequest] = []
        self.connections = 0  # TCP connections accepted: keep-alive reuse shows as fewer than requests
        self._lock = threading.Lock()
        self._cut = threading.Event()  # abort(): every connection resets
        # Blocked reads wait on these too, so abort() and stop() wake them at once (no polling).
        self._cut_signal, self._cut_wake = socket.socketpair()
        self._halt_signal, self._halt_wake = socket.socketpair()
        self._threads: list[threading.Thread] = []
        self._acceptor: threading.Thread | None = None
        self._ends_at = time.monotonic() + MAX_LIFETIME

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, path: str | None = None) -> int:
        """Requests read in full so far (to ``path`` only, if given)."""
        return sum(1 for request in self.requests if path is None or request.path == path)

    def start(self) -> HostileServer:
        self._socket.listen(64)
        self._acceptor = self._spawn(self._accept_loop, self._socket)
        return self

    def abort(self) -> None:
        """Reset every open connection now, and every new one from now on."""
        with self._lock:
            if not self._cut.is_set():
                self._cut.set()
                self._cut_signal.send(b"!")

    def go_down(self) -> None:
        """Reset every connection and refuse new ones: the port stays bound but stops listening."""
        self.abort()
        self._halt_acceptor()
        self._socket.close()
        self._socket = _bound_socket(self.port)

    def stop(self) -> None:
        self.abort()
        self._halt_acceptor()
        self._socket.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        for end in (self._cut_signal, self._cut_wake, self._halt_signal, self._halt_wake):
            end.close()

    # -- serving ---------------------------------------------------------------------------------

    def _halt_acceptor(self) -> None:
        if self._acceptor is not None and self._acceptor.is_alive():
            self._halt_signal.send(b"!")
            self._acceptor.join(timeout=2.0)

    def _spawn(self, target: Callable[[socket.socket], None], sock: socket.socket) -> threading.Thread:
        thread = threading.Thread(target=target, args=(sock,), name=f"hostile-{self.port}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def _accept_loop(self, listener: socket.socket) -> None:
        while (left := self._ends_at - time.monotonic()) > 0:
            readable, _, _ = select.select([listener, self._halt_wake], [], [], left)
            if self._halt_wake in readable:
                return
            if listener in readable:
                conn, _ = listener.accept()
                with self._lock:
                    self.connections += 1
                if self._cut.is_set():
                    _reset(conn)
                else:
                    self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a dripped byte leaves at once
        pending = b""
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                request, pending = self._read_request(conn, pending)
                if request is None:
                    break
                with self._lock:
                    self._requests.append(request)
                if not self._play(conn, self._respond(request)):
                    return
        except OSError:
            pass  # the client hung up: part of what is simulated
        finally:
            if self._cut.is_set():
                _reset(conn)
            conn.close()

    def _recv(self, conn: socket.socket, until: float) -> bytes | None:
        """Up to 64 KiB; ``None`` when aborted, idle past ``until`` or closed by the peer."""
        left = until - time.monotonic()
        readable, _, _ = select.select([conn, self._cut_wake], [], [], max(left, 0))
        if self._cut.is_set() or conn not in readable:
            return None
        return conn.recv(65536) or None

    def _read_request(self, conn: socket.socket, buffer: bytes) -> tuple[SeenRequest | None, bytes]:
        until = time.monotonic() + IDLE_SECONDS
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > MAX_HEAD_BYTES or (data := self._recv(conn, until)) is None:
                return None, b""
            buffer += data
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, *_ = [*request_line.split(" "), "", ""]
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        declared = headers.get("content-length", "")
        length = min(int(declared), MAX_BODY_BYTES) if declared.isdigit() else 0
        while len(buffer) < length:
            if (data := self._recv(conn, until)) is None:
                return None, b""
            buffer += data
        return SeenRequest(method, path, headers, buffer[:length]), buffer[length:]

    def _play(self, conn: socket.socket, answer: Answer) -> bool:
        """Perform ``answer``; ``False`` once the connection is over (closed, reset or aborted)."""
        conn.settimeout(SEND_TIMEOUT)
        for action in answer:
            match action:
                case Send(data):
                    conn.sendall(data)
                case Drip(data, interval):
                    for index in range(len(data)):
                        conn.sendall(data[index : index + 1])
                        if self._cut.wait(interval):
                            return False
                case Pause(seconds):
                    if self._cut.wait(min(seconds, LONGEST_WAIT)):
                        return False
                case Close():
                    conn.shutdown(socket.SHUT_RDWR)
                    return False
                case Reset():
                    _reset(conn)
                    return False
        return not self._cut.is_set()


def _bound_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Rebinding the port go_down() leaves (its accepted connections may linger in TIME_WAIT).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    return sock


def _reset(conn: socket.socket) -> None:
    if conn.fileno() == -1:
        return  # already closed
    # Linger on, timeout 0: close() sends RST instead of FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
