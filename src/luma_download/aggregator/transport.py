"""The transport: one pooled GET to the aggregator, and a video streamed from the link it gave.

Both: no redirects, sizes capped, every wait bounded by the deadline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

import urllib3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util import Timeout, parse_url

from luma_download.aggregator.deadline_socket import POOL_CLASSES, bounded_by
from luma_download.aggregator.retry_policy import deadline_retry
from luma_download.errors import (
    ArchiveDownloadError,
    LumaDownloadError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    VideoTooLargeError,
)
from luma_download.model import Deadline
from luma_download.url_rules import check_video_url

MAX_BODY_BYTES = 64 * 1024
USER_AGENT = "luma-download/0.1 (+aws-lambda)"
# urllib3 replaces (does not merge) a pool's default headers when a request passes its own.
BASE_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


class UpstreamResponse(NamedTuple):
    status: int
    body: bytes
    retry_after: str | None


class Timeouts:
    """An exchange's socket timeouts, and the retry policy that fits them: built once, shared by
    every request (urllib3 copies a ``Timeout`` before use and never changes a ``Retry``)."""

    __slots__ = ("_whole", "connect", "read", "retries")

    def __init__(self, connect: float, read: float) -> None:
        self.connect = connect
        self.read = read
        self._whole = Timeout(connect=connect, read=read)
        self.retries = deadline_retry(connect + read)

    def within(self, remaining: float) -> Timeout:
        """Each timeout cut to the time ``remaining``."""
        if remaining >= self.connect and remaining >= self.read:
            return self._whole
        return Timeout(connect=min(self.connect, remaining), read=min(self.read, remaining))


def build_pool_manager() -> urllib3.PoolManager:
    """One pool for the container's life (videos, from any allowed host): warm invocations reuse
    the TLS connection."""
    pool = urllib3.PoolManager(num_pools=4, maxsize=8, retries=False, headers=BASE_HEADERS)
    # Its connections end every read at the deadline of the exchange under way (see ``get``).
    pool.pool_classes_by_scheme = POOL_CLASSES
    return pool


def build_host_pool(base_url: str) -> HTTPConnectionPool:
    """The aggregator's own connection pool, for the container's life.

    One host: a request names only its path, so it skips the PoolManager's URL parsing and pool
    lookup (a sixth of a cache miss's own work), and video hosts can never evict it.
    """
    parsed = parse_url(base_url)
    pool_class = POOL_CLASSES[parsed.scheme or "https"]
    pool: HTTPConnectionPool = pool_class(
        parsed.host, parsed.port, maxsize=8, retries=False, headers=BASE_HEADERS
    )
    return pool


def get(
    pool: HTTPConnectionPool, path: str, *, token: str, deadline: Deadline, timeouts: Timeouts
) -> UpstreamResponse:
    """GET ``path`` from ``pool``'s host with the bearer token; transport failures become the error
    contract's types.

    The whole exchange (connect, status line, headers, body, retries) ends by ``deadline``.
    """
    remaining = deadline.remaining()
    if remaining <= 0:
        raise UpstreamTimeoutError("out of time before calling the upstream")
    with bounded_by(deadline):
        headers = {**BASE_HEADERS, "Authorization": f"Bearer {token}"}
        response = start_get(
            pool,
            path,
            headers,
            timeouts=timeouts,
            remaining=remaining,
            to_error=transport_error,
        )
        try:
            body = read_capped(response)
        except HTTPError as exc:
            response.close()
            raise transport_error(exc) from None
        except BaseException:
            response.close()
            raise
        response.release_conn()
        # Only a refusal's Retry-After is ever read (and urllib3 raises, then catches, a KeyError to
        # find a header absent).
        retry_after = None if response.status == 200 else response.headers.get("Retry-After")
        return UpstreamResponse(status=response.status, body=body, retry_after=retry_after)


def start_get(
    pool: urllib3.PoolManager | HTTPConnectionPool,
    url: str,
    headers: dict[str, str],
    *,
    timeouts: Timeouts,
    remaining: float,
    to_error: Callable[[Exception | None], LumaDownloadError],
    decode_content: bool = True,
) -> urllib3.BaseHTTPResponse:
    """Send a GET (inside ``bounded_by``: the retries and every read end by its deadline): no
    redirects, the body left to read, the timeouts cut to ``remaining``; urllib3's failures become
    ``to_error``'s."""
    try:
        return pool.urlopen(
            "GET",
            url,
            headers=headers,
            timeout=timeouts.within(remaining),
            retries=timeouts.retries,
            redirect=False,
            preload_content=False,
            decode_content=decode_content,
        )
    except MaxRetryError as exc:
        raise to_error(exc.reason) from None
    except HTTPError as exc:
        raise to_error(exc) from None


def read_capped(response: urllib3.BaseHTTPResponse) -> bytes:
    """The body, at most ``MAX_BODY_BYTES`` (decoded: urllib3 bounds decompression by the amount)."""
    declared = response.length_remaining  # urllib3's reading of Content-Length; None: absent, chunked
    if declared is not None:
        if declared > MAX_BODY_BYTES:
            raise UpstreamError("upstream response is too large")
        if "Content-Encoding" not in response.headers:
            return response.read()  # exactly the declared bytes, as sent: the cap holds already
    body = response.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise UpstreamError("upstream response is too large")
    return body


def transport_error(reason: Exception | None) -> LumaDownloadError:
    if isinstance(reason, ReadTimeoutError):
        return UpstreamTimeoutError("the aggregator did not answer in time")
    if isinstance(reason, ConnectTimeoutError | NewConnectionError | NameResolutionError):
        return UpstreamUnavailableError("the aggregator is unreachable", retry_after=5)
    return UpstreamError("the aggregator broke the connection or spoke bad HTTP")


# The video's own bytes, as stored: no content coding to undo, no aggregator token.
VIDEO_HEADERS = {"User-Agent": USER_AGENT, "Accept": "video/mp4, */*", "Accept-Encoding": "identity"}
MP4_BRAND_OFFSET = slice(4, 8)  # an MP4 starts with its "ftyp" box: size (4 bytes), then the type


def open_video(
    pool: urllib3.PoolManager,
    url: str,
    *,
    deadline: Deadline,
    timeouts: Timeouts,
    max_bytes: int,
    allowed_hosts: Iterable[str],
    allow_loopback: bool,
) -> VideoStream:
    """Start a GET of the video at ``url`` (someone else's choice) and hand back its body as a stream.

    ``url`` must pass the redirect rules (``check_video_url``) or nothing is sent. Redirects are not
    followed; anything but a 200 with at most ``max_bytes`` is refused before the body is read.
    """
    checked = check_video_url(url, allowed_hosts, allow_loopback=allow_loopback)
    remaining = deadline.remaining()
    if remaining <= 0:
        raise UpstreamTimeoutError("out of time before fetching the video")
    with bounded_by(deadline):
        response = start_get(
            pool,
            checked,
            VIDEO_HEADERS,
            timeouts=timeouts,
            remaining=remaining,
            to_error=video_transport_error,
            decode_content=False,
        )
    try:
        declared = _declared_length(response, max_bytes)
    except BaseException:
        response.close()
        raise
    return VideoStream(
        response,
        deadline=deadline,
        declared=declared,
        max_bytes=max_bytes,
        source_host=urlsplit(checked).hostname,
    )


def _declared_length(response: urllib3.BaseHTTPResponse, max_bytes: int) -> int | None:
    if response.status != 200:
        error = ArchiveDownloadError(
            "the video host answered with a redirect, which is not followed"
            if 300 <= response.status < 400
            else f"the video host answered HTTP {response.status}"
        )
        error.upstream_status = response.status
        raise error
    coding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        raise ArchiveDownloadError(f"the video host sent a {coding!r} coded body instead of the file")
    raw = response.headers.get("Content-Length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise ArchiveDownloadError("the video host sent a malformed Content-Length")
    declared = int(raw)
    if declared > max_bytes:
        raise VideoTooLargeError(f"the video is {declared} bytes, over ARCHIVE_MAX_BYTES ({max_bytes})")
    return declared


class VideoStream:
    """A video's body, read as a file (``upload_fileobj`` reads it from its own threads).

    Each ``read(n)`` returns ``n`` bytes until the end, as a file does, and ends by the deadline.
    It raises, and so stops the upload, when the body outgrows ``max_bytes``, ends short of its
    ``Content-Length``, or does not start like an MP4. It hashes what it hands out, so the whole
    file's SHA-256 is known at the end without reading it twice (S3 keeps only each part's).
    """

    def __init__(
        self,
        response: urllib3.BaseHTTPResponse,
        *,
        deadline: Deadline,
        declared: int | None,
        max_bytes: int,
        source_host: str | None,
    ) -> None:
        self._response = response
        self._deadline = deadline
        self.declared = declared
        self._max_bytes = max_bytes
        self.source_host = source_host or ""
        self.bytes_read = 0
        self._head = b""
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        wanted = self._max_bytes + 1 - self.bytes_read if size < 0 else size
        chunks: list[bytes] = []
        got = 0
        # The ContextVar is per thread: bind the deadline in whichever thread reads.
        with bounded_by(self._deadline):
            while got < wanted:
                if self._deadline.remaining() <= 0:
                    raise UpstreamTimeoutError("out of time while fetching the video")
                try:
                    chunk = self._response.read(wanted - got)
                except HTTPError as exc:
                    raise video_transport_error(exc) from None
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
                self._count(chunk)
        if got < wanted:
            self._check_end()
        return b"".join(chunks)

    @property
    def sha256(self) -> str:
        """The SHA-256 (lower-case hex) of the bytes read so far: the whole file's once read to its end."""
        return self._hash.hexdigest()

    def _count(self, chunk: bytes) -> None:
        # Reads come in order: upload_fileobj reads a stream that cannot seek from one thread.
        self._hash.update(chunk)
        self.bytes_read += len(chunk)
        if self.bytes_read > self._max_bytes:
            raise VideoTooLargeError(f"the video is over ARCHIVE_MAX_BYTES ({self._max_bytes})")
        if len(self._head) < MP4_BRAND_OFFSET.stop:
            self._head += chunk[: MP4_BRAND_OFFSET.stop]
            if len(self._head) >= MP4_BRAND_OFFSET.stop and self._head[MP4_BRAND_OFFSET] != b"ftyp":
                raise ArchiveDownloadError("the video host sent something that is not an MP4")

    def _check_end(self) -> None:
        if len(self._head) < MP4_BRAND_OFFSET.stop:
            raise ArchiveDownloadError("the video host sent something that is not an MP4")
        if self.declared is not None and self.bytes_read != self.declared:
            raise ArchiveDownloadError(
                f"the video ended after {self.bytes_read} of {self.declared} bytes (Content-Length)"
            )

    def close(self) -> None:
        self._response.close()


def video_transport_error(reason: Exception | None) -> LumaDownloadError:
    if isinstance(reason, ReadTimeoutError):
        return UpstreamTimeoutError("the video host did not answer in time")
    if isinstance(reason, ConnectTimeoutError | NewConnectionError | NameResolutionError):
        return ArchiveDownloadError("the video host is unreachable")
    return ArchiveDownloadError("the video host broke the connection or spoke bad HTTP")
