"""The transport to the aggregator: one pooled GET, no redirects, body capped, waits bounded."""

from __future__ import annotations

from dataclasses import dataclass

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util import Timeout

from luma_download.deadline_socket import POOL_CLASSES, bounded_by
from luma_download.errors import (
    LumaDownloadError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from luma_download.model import Deadline
from luma_download.retry_policy import deadline_retry

MAX_BODY_BYTES = 64 * 1024
USER_AGENT = "luma-download/0.1 (+aws-lambda)"
# urllib3 replaces (does not merge) a pool's default headers when a request passes its own.
BASE_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    body: bytes
    retry_after: str | None


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    read: float


def build_pool_manager() -> urllib3.PoolManager:
    """One pool for the container's life: warm invocations reuse the TLS connection."""
    pool = urllib3.PoolManager(num_pools=4, maxsize=8, retries=False, headers=BASE_HEADERS)
    # Its connections end every read at the deadline of the exchange under way (see ``get``).
    pool.pool_classes_by_scheme = POOL_CLASSES
    return pool


def get(
    pool: urllib3.PoolManager, url: str, *, token: str, deadline: Deadline, timeouts: Timeouts
) -> UpstreamResponse:
    """GET ``url`` with the bearer token; transport failures become the error contract's types.

    The whole exchange (connect, status line, headers, body, retries) ends by ``deadline``.
    """
    remaining = deadline.remaining()
    if remaining <= 0:
        raise UpstreamTimeoutError("out of time before calling the upstream")
    with bounded_by(deadline):
        try:
            response = pool.request(
                "GET",
                url,
                headers={**BASE_HEADERS, "Authorization": f"Bearer {token}"},
                timeout=Timeout(connect=min(timeouts.connect, remaining), read=min(timeouts.read, remaining)),
                retries=deadline_retry(deadline, min(timeouts.connect + timeouts.read, remaining)),
                redirect=False,
                preload_content=False,
            )
        except MaxRetryError as exc:
            raise transport_error(exc.reason) from None
        except HTTPError as exc:
            raise transport_error(exc) from None
        try:
            body = read_capped(response)
        except HTTPError as exc:
            response.close()
            raise transport_error(exc) from None
        except BaseException:
            response.close()
            raise
        response.release_conn()
        return UpstreamResponse(
            status=response.status, body=body, retry_after=response.headers.get("Retry-After")
        )


def read_capped(response: urllib3.BaseHTTPResponse) -> bytes:
    """The body, at most ``MAX_BODY_BYTES`` (decoded: urllib3 bounds decompression by the amount)."""
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise UpstreamError("upstream response is too large")
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
