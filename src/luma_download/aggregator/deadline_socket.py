"""Connections whose reads, together, end at the request's deadline, whatever the upstream's drip rate.

urllib3's read timeout bounds each socket read, so an answer sent a byte at a time never trips it.
Here every read first checks the deadline of the exchange under way (a ``ContextVar``: per thread,
nothing on the long-lived pool) and lowers the socket's timeout to what is left; once nothing is
left it raises ``TimeoutError``, which urllib3 reports as a read timeout.

Its response class also skips every interim (1xx) answer before the real one, as RFC 9110 asks.
"""

from __future__ import annotations

import http.client
import io
import socket
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from luma_download.model import Deadline

MAX_INTERIM = 10  # interim (1xx) answers skipped before the answer; more is a broken upstream

_current: ContextVar[Deadline | None] = ContextVar("upstream_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the exchange under way in this thread (``bounded_by``), if any."""
    return _current.get()


class bounded_by:
    """Every read on a deadline-bound connection in this block ends by ``deadline``.

    A class, not ``@contextmanager``: it sits on every upstream call, and a generator costs more.
    """

    __slots__ = ("_deadline", "_token")

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __enter__(self) -> None:
        self._token = _current.set(self._deadline)

    def __exit__(self, *_: object) -> None:
        _current.reset(self._token)


class _DeadlineReader(socket.SocketIO):
    """The socket's reader, every read of which ends by the deadline (a ``SocketIO`` for its close,
    which gives back the reference ``_DeadlineSocket.makefile`` takes)."""

    _sock: socket.socket  # SocketIO's own, which typeshed leaves out

    def readinto(self, buffer: Any) -> int:
        deadline = _current.get()
        if deadline is not None:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise TimeoutError("the request's deadline passed while reading")
            timeout = self._sock.gettimeout()
            if timeout is None or timeout > remaining:
                self._sock.settimeout(remaining)
        # Straight from the socket, as before: SocketIO.readinto's checks (non-blocking sockets, reads
        # after a timeout, which urllib3 never makes) cost most of a microsecond per answer.
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """The connection's socket, except that the reader http.client makes from it keeps the deadline."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        # What urllib3 asks for on every request, bound here rather than looked up by __getattr__.
        self.settimeout = sock.settimeout
        self.sendall = sock.sendall
        self.fileno = sock.fileno
        self.shutdown = sock.shutdown

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode != "rb":
            return self._sock.makefile(mode, *args, **kwargs)
        reader = _DeadlineReader(self._sock, "rb")
        # Counted as ``socket.makefile`` counts its reader: when http.client closes a connection
        # whose body ends with it, the socket stays open until the reader is done (closed too).
        self._sock._io_refs += 1
        return io.BufferedReader(reader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


_status_line = http.client.HTTPResponse._read_status  # type: ignore[attr-defined]


class _BoundedResponse(http.client.HTTPResponse):
    """An answer whose interim (1xx) answers are skipped.

    http.client skips a ``100 Continue`` only and would take a ``103 Early Hints`` for the answer,
    leaving the real one unread; RFC 9110 §15.2 has a client skip every 1xx but ``101`` (not asked
    for: an answer like any other). At most ``MAX_INTERIM`` of them, each read by the deadline.
    """

    _interim = 0

    def _read_status(self) -> tuple[str, int, str]:
        line: tuple[str, int, str] = _status_line(self)
        if line[1] >= 200 or line[1] == 101:  # an answer, or Switching Protocols (not asked for)
            return line
        self._interim += 1
        if self._interim > MAX_INTERIM:
            raise http.client.HTTPException(f"more than {MAX_INTERIM} interim (1xx) answers")
        # begin() skips a 100's header lines and reads the next status line: the same for every 1xx.
        return line[0], HTTPStatus.CONTINUE, line[2]


class _BoundedHTTPConnection(HTTPConnection):
    response_class = _BoundedResponse

    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class _BoundedHTTPSConnection(HTTPSConnection):
    response_class = _BoundedResponse

    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class BoundedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _BoundedHTTPConnection


class BoundedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _BoundedHTTPSConnection


POOL_CLASSES = {"http": BoundedHTTPConnectionPool, "https": BoundedHTTPSConnectionPool}
