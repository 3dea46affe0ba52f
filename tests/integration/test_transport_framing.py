"""Every framing of an answer that urllib3 reads, read by the transport too, byte for byte.

Each framing (RFC 9112 §6: Content-Length, chunked, close-delimited; RFC 9110 §15.2: interim 1xx
answers before the real one) is served over raw loopback sockets (``local.hostile``) to both of the
transport's callers: the aggregator call (``transport.get``) and the archive's video download
(``transport.open_video``). Each is asked twice: a framing that lets the connection be kept is read
again over the same pooled connection, any other over a new one. The body cap and the deadline
hold whatever the framing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import urllib3

from local.demo_video import DEMO_MP4
from local.hostile import Answer, Close, Drip, HostileServer, Pause, Script, Send, chunked, http_bytes
from luma_download.aggregator.deadline_socket import MAX_INTERIM
from luma_download.aggregator.transport import (
    MAX_BODY_BYTES,
    Timeouts,
    build_host_pool,
    build_pool_manager,
    get,
    open_video,
)
from luma_download.errors import UpstreamError, UpstreamTimeoutError, VideoTooLargeError
from luma_download.model import Deadline

PATH = "/luma/generations/task/download_video_url"
VIDEO_PATH = "/files/video.mp4"
LINK = b'{"url": "https://x.r2.cloudflarestorage.com/a.mp4?X-Amz-Expires=3600"}'
NOT_FOUND = b'{"detail": "Not Found"}'
VIDEO = DEMO_MP4.read_bytes()
TIMEOUTS = Timeouts(connect=1, read=2)
BUDGET = 5.0  # each exchange's deadline: far beyond what a loopback answer takes


def interim(status: int, *headers: tuple[str, str]) -> bytes:
    return http_bytes(status, headers=headers, framed=False)


def terminated(status: int, body: bytes, *headers: tuple[str, str], version: str = "HTTP/1.1") -> Answer:
    """A body that ends where the connection does."""
    return (Send(http_bytes(status, body, headers, framed=False, version=version)), Close())


@dataclass(frozen=True)
class Framing:
    name: str
    answer: Callable[[int, bytes], Answer]
    reusable: bool  # the connection may carry the next request


def _chunked_with_extensions(status: int, body: bytes) -> Answer:
    half = len(body) // 2
    coded = b"%x;name=value\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Checksum: 1\r\n\r\n" % (
        half,
        body[:half],
        len(body) - half,
        body[half:],
    )
    return (Send(http_bytes(status, coded, [("Transfer-Encoding", "chunked")])),)


FRAMINGS = [
    Framing("content-length", lambda status, body: (Send(http_bytes(status, body)),), True),
    Framing(
        "chunked",
        lambda status, body: (
            Send(http_bytes(status, chunked(body, 1000), [("Transfer-Encoding", "chunked")])),
        ),
        True,
    ),
    Framing("chunked with extensions and a trailer", _chunked_with_extensions, True),
    Framing(
        "100 Continue first",
        lambda status, body: (Send(interim(100) + http_bytes(status, body)),),
        True,
    ),
    Framing(
        "102 and 103 first, each on its own",
        lambda status, body: (
            Send(interim(102)),
            Pause(0.05),
            Send(interim(103, ("Link", "</style.css>; rel=preload"))),
            Pause(0.05),
            Send(http_bytes(status, body)),
        ),
        True,
    ),
    Framing(
        "HTTP/1.0 keep-alive with Content-Length",
        lambda status, body: (
            Send(http_bytes(status, body, [("Connection", "keep-alive")], version="HTTP/1.0")),
        ),
        True,
    ),
    Framing(
        "HTTP/1.0 close-delimited",
        lambda status, body: terminated(status, body, version="HTTP/1.0"),
        False,
    ),
    Framing(
        "HTTP/1.1 Connection: close, close-delimited",
        lambda status, body: terminated(status, body, ("Connection", "close")),
        False,
    ),
    Framing("HTTP/1.1 close-delimited", terminated, False),
    Framing(
        "Connection: close with Content-Length",
        lambda status, body: (
            Send(http_bytes(status, body, [("Connection", "close")])),
            Close(),
        ),
        False,
    ),
    Framing(
        "103 first, then close-delimited",
        lambda status, body: (Send(interim(103)), *terminated(status, body, ("Connection", "close"))),
        False,
    ),
    Framing(
        "chunked, Connection: close",
        lambda status, body: (
            Send(
                http_bytes(status, chunked(body), [("Transfer-Encoding", "chunked"), ("Connection", "close")])
            ),
            Close(),
        ),
        False,
    ),
]
Serve = Callable[[str, list[Answer]], HostileServer]  # a started server: a path and its answers
BY_NAME = pytest.mark.parametrize("framing", FRAMINGS, ids=[framing.name for framing in FRAMINGS])


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[HostileServer] = []

    def start(path: str, answers: list[Answer]) -> HostileServer:
        servers.append(HostileServer(Script({path: answers})).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def ask(pool: urllib3.HTTPConnectionPool, deadline: float = BUDGET) -> tuple[int, bytes]:
    response = get(pool, PATH, token="sk-framing", deadline=Deadline(deadline), timeouts=TIMEOUTS)
    return response.status, response.body


def download(
    pool: urllib3.PoolManager, url: str, max_bytes: int = len(VIDEO), deadline: float = BUDGET
) -> bytes:
    stream = open_video(
        pool,
        url,
        deadline=Deadline(deadline),
        timeouts=TIMEOUTS,
        max_bytes=max_bytes,
        allowed_hosts=(),
        allow_loopback=True,
    )
    try:
        return stream.read()
    finally:
        stream.close()


@BY_NAME
def test_the_aggregator_call_reads_each_framing(framing: Framing, serve: Serve) -> None:
    # Given an aggregator that answers in this framing: a link, then a refusal
    server = serve(PATH, [framing.answer(200, LINK), framing.answer(404, NOT_FOUND)])
    pool = build_host_pool(server.base_url)

    # Then each answer comes back as sent: its status and its body
    assert ask(pool) == (200, LINK)
    assert ask(pool) == (404, NOT_FOUND)

    # Over the one pooled connection when the framing keeps it, a new one when it does not
    assert server.calls(PATH) == 2
    assert server.connections == (1 if framing.reusable else 2)


@BY_NAME
def test_the_video_download_reads_each_framing(framing: Framing, serve: Serve) -> None:
    server = serve(VIDEO_PATH, [framing.answer(200, VIDEO)])
    url = f"{server.base_url}{VIDEO_PATH}"
    pool = build_pool_manager()

    assert download(pool, url) == VIDEO
    assert download(pool, url) == VIDEO

    assert server.calls(VIDEO_PATH) == 2
    assert server.connections == (1 if framing.reusable else 2)


@BY_NAME
def test_a_body_over_the_cap_is_refused_whatever_its_framing(framing: Framing, serve: Serve) -> None:
    aggregator = serve(PATH, [framing.answer(200, b"x" * (MAX_BODY_BYTES + 1))])
    with pytest.raises(UpstreamError, match="too large"):
        ask(build_host_pool(aggregator.base_url))

    video_host = serve(VIDEO_PATH, [framing.answer(200, VIDEO)])
    with pytest.raises(VideoTooLargeError):
        download(build_pool_manager(), f"{video_host.base_url}{VIDEO_PATH}", max_bytes=len(VIDEO) - 1)


def test_interim_answers_are_skipped_up_to_a_bound(serve: Serve) -> None:
    # Given one aggregator that sends as many interim answers as are skipped, one that sends one more
    many = (Send(interim(103) * MAX_INTERIM + http_bytes(200, LINK)),)
    too_many = (Send(interim(103) * (MAX_INTERIM + 1) + http_bytes(200, LINK)),)
    patient = serve(PATH, [many])
    flooding = serve(PATH, [too_many])

    assert ask(build_host_pool(patient.base_url)) == (200, LINK)
    with pytest.raises(UpstreamError, match="bad HTTP"):
        ask(build_host_pool(flooding.base_url))


DRIP_INTERVAL = 0.1  # a byte this often is well inside the 2 s read timeout: only the deadline ends it
DRIP_DEADLINE = 1.0
SLACK = 0.5


def test_a_dripping_close_delimited_body_still_ends_at_the_deadline(serve: Serve) -> None:
    # Given upstreams that send a close-delimited body a byte at a time, for far longer than the deadline
    def dripping(body: bytes) -> list[Answer]:
        head = http_bytes(200, headers=[("Connection", "close")], framed=False, version="HTTP/1.0")
        return [(Send(head), Drip(body, DRIP_INTERVAL), Close())]

    aggregator = serve(PATH, dripping(LINK * 2))
    video_host = serve(VIDEO_PATH, dripping(VIDEO[:200]))

    for call in (
        lambda: ask(build_host_pool(aggregator.base_url), deadline=DRIP_DEADLINE),
        lambda: download(build_pool_manager(), f"{video_host.base_url}{VIDEO_PATH}", deadline=DRIP_DEADLINE),
    ):
        started = time.monotonic()
        with pytest.raises(UpstreamTimeoutError):
            call()
        # Then each ends at its deadline, not when the body or a read timeout would end it
        assert time.monotonic() - started < DRIP_DEADLINE + SLACK
