"""Connections whose reads, together, end at the request's deadline, whatever the upstream's drip rate.

urllib3's read timeout bounds each socket read, so an answer sent a byte at a time never trips it.
Here every read first checks the deadline of the exchange under way (a ``ContextVar``: per thread,
nothing on the long-lived pool) and lowers the socket's timeout to what is left; once nothing is
left it raises ``TimeoutError``, which urllib3 reports as a read timeout.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from luma_download.model import Deadline

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


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        deadline = _current.get()
        if deadline is not None:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise TimeoutError("the request's deadline passed while reading")
            timeout = self._sock.gettimeout()
            if timeout is None or timeout > remaining:
                self._sock.settimeout(remaining)
        return int(self._sock.recv_into(buffer))


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
        if mode == "rb":
            return io.BufferedReader(_DeadlineReader(self._sock))
        return self._sock.makefile(mode, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _BoundedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class _BoundedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class BoundedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _BoundedHTTPConnection


class BoundedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _BoundedHTTPSConnection


POOL_CLASSES = {"http": BoundedHTTPConnectionPool, "https": BoundedHTTPSConnectionPool}
