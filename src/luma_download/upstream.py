"""The aggregator client: pooled, no redirects, body capped, every wait bounded by the deadline."""

from __future__ import annotations

import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn, Protocol, Self

import urllib3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util import Retry, Timeout

from luma_download.errors import (
    TaskFailedError,
    TaskNotFoundError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    VideoNotReadyError,
)
from luma_download.secret_token import TokenSource
from luma_download.settings import Settings
from luma_download.url_rules import check_video_url, expiry_of, redact_url

MAX_BODY_BYTES = 64 * 1024
RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_RETRIES = 2
NOT_READY_STATES = frozenset({"pending", "queued", "processing", "dreaming"})
NOT_READY_RETRY_AFTER = 10
RATE_LIMIT_RETRY_AFTER = 10
USER_AGENT = "luma-download/0.1 (+aws-lambda)"
# urllib3 replaces (does not merge) a pool's default headers when a request passes its own.
BASE_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class DownloadLink:
    task_id: str
    url: str
    expires_at: datetime | None
    # Redacted once when the link is made; a cached link is logged on every hit.
    log_url: str = field(default="", compare=False)


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """The time this invocation may still spend waiting, less a reserve to answer."""

    def __init__(self, seconds: float) -> None:
        self._ends_at = time.monotonic() + seconds

    @classmethod
    def from_context(cls, context: object, *, reserve: float = 1.0, default: float = 14.0) -> Deadline:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining_ms() / 1000 if callable(remaining_ms) else default
        return cls(seconds - reserve)

    def remaining(self) -> float:
        return self._ends_at - time.monotonic()


class DeadlineRetry(Retry):
    """urllib3 ``Retry`` that never starts a wait or an attempt the deadline cannot hold.

    A retry is allowed only while the backoff (or the server's ``Retry-After``) plus one more full
    attempt (``attempt_seconds``) still fits in ``deadline``; otherwise the last answer is returned as is.
    """

    deadline: Deadline | None = None
    attempt_seconds: float = 0.0

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.deadline, retry.attempt_seconds = self.deadline, self.attempt_seconds
        return retry

    def _spare(self) -> float:
        return float("inf") if self.deadline is None else self.deadline.remaining() - self.attempt_seconds

    def get_backoff_time(self) -> float:
        # Jitter makes each call differ: cap the value actually slept, not just the one checked.
        return min(super().get_backoff_time(), max(0.0, self._spare()))

    def is_exhausted(self) -> bool:
        return super().is_exhausted() or self._spare() < Retry.get_backoff_time(self)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and self.respect_retry_after_header:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self._spare():
                raise MaxRetryError(_pool, url, ResponseError("no time to wait for Retry-After"))  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    body: bytes
    retry_after: str | None

    def document(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def build_pool_manager() -> urllib3.PoolManager:
    """One pool for the container's life: warm invocations reuse the TLS connection."""
    return urllib3.PoolManager(
        num_pools=4,
        maxsize=8,
        retries=False,
        headers=BASE_HEADERS,
    )


class UpstreamClient:
    """Asks the aggregator for a task's download link and explains every way that can fail."""

    def __init__(
        self,
        *,
        pool: urllib3.PoolManager,
        settings: Settings,
        tokens: TokenSource,
        logger: Logger,
        metrics: Metrics,
        tracer: Tracer,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._tokens = tokens
        self._logger = logger
        self._metrics = metrics
        self._tracer = tracer
        # Per-invocation timing: Lambda runs one invocation at a time per container.
        self._upstream_ms = 0.0
        # Tokens this container has sent, so upstream text echoing an old one is masked too.
        self._tokens_used: deque[str] = deque(maxlen=4)

    def fetch_download_link(self, task_id: str, deadline: Deadline) -> DownloadLink:
        """``task_id`` must already be validated (``task_id.validate_task_id``)."""
        self._upstream_ms = 0.0
        answer = self._authorized_get(f"/luma/generations/{task_id}/download_video_url", deadline)
        if answer.status == 200:
            document = answer.document()
            if not isinstance(document, dict):
                raise UpstreamError("upstream answered 200 without a JSON object")
            if document.get("url") is not None:
                return self._link(task_id, document["url"])
        elif answer.status != 400:
            self._raise_for_status(answer)
        # Resellers answer 400 (or no url) until the task has completed: the task says why.
        return self._link_from_task(task_id, deadline)

    def _link_from_task(self, task_id: str, deadline: Deadline) -> DownloadLink:
        answer = self._authorized_get(f"/luma/generations/{task_id}", deadline)
        if answer.status != 200:
            self._raise_for_status(answer)
        task = answer.document()
        if not isinstance(task, dict):
            raise UpstreamError("upstream task is not a JSON object")
        state = str(task.get("state") or "").lower()
        if state in NOT_READY_STATES:
            raise VideoNotReadyError(
                f"the video is not ready yet (state: {state})", state=state, retry_after=NOT_READY_RETRY_AFTER
            )
        if state == "failed":
            reason = self._clean_text(task.get("failure_reason")) or "no reason given"
            raise TaskFailedError(f"the generation failed: {reason}", reason=reason)
        if state == "completed":
            video = task.get("video")
            url = video.get("download_url") if isinstance(video, dict) else None
            if url:
                return self._link(task_id, url)
            raise VideoNotReadyError(
                "the task completed but its video link is not published yet",
                state=state,
                retry_after=NOT_READY_RETRY_AFTER,
            )
        raise UpstreamError("upstream reported an unknown task state")

    def _link(self, task_id: str, url: object) -> DownloadLink:
        checked = check_video_url(
            url, self._settings.allowed_redirect_hosts, allow_loopback=self._settings.upstream_is_loopback
        )
        link = DownloadLink(task_id, checked, expiry_of(checked), log_url=redact_url(checked))
        self._logger.append_keys(video_url=link.log_url)
        return link

    def _authorized_get(self, path: str, deadline: Deadline) -> UpstreamResponse:
        token = self._tokens.get()
        self._remember(token)
        answer = self._get(path, token, deadline)
        if answer.status in (401, 403):
            # A rotated secret is picked up without a redeploy: re-read it once, retry once if it changed.
            fresh = self._tokens.get(force_fetch=True)
            self._remember(fresh)
            if fresh != token:
                answer = self._get(path, fresh, deadline)
            if answer.status in (401, 403):
                self._logger.error(
                    "upstream rejected the token after re-reading the secret",
                    extra={"upstream_status": answer.status},
                )
                raise UpstreamError("upstream rejected this service's credentials")
        return answer

    def _remember(self, token: str) -> None:
        if token not in self._tokens_used:
            self._tokens_used.append(token)

    def _get(self, path: str, token: str, deadline: Deadline) -> UpstreamResponse:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise UpstreamTimeoutError("out of time before calling the upstream")
        timeout = Timeout(
            connect=min(self._settings.upstream_connect_timeout, remaining),
            read=min(self._settings.upstream_read_timeout, remaining),
        )
        retries = DeadlineRetry(
            total=MAX_RETRIES,
            redirect=False,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=0.2,
            backoff_jitter=0.2,
            backoff_max=2.0,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        retries.deadline = deadline
        retries.attempt_seconds = min(
            self._settings.upstream_connect_timeout + self._settings.upstream_read_timeout, remaining
        )
        started = time.perf_counter()
        with self._tracer.provider.in_subsegment("## upstream GET") as subsegment:
            subsegment.put_metadata("path", path)
            try:
                answer = self._request(path, token, timeout, retries, deadline)
            finally:
                elapsed_ms = (time.perf_counter() - started) * 1000
                self._upstream_ms += elapsed_ms
                self._logger.append_keys(upstream_ms=round(self._upstream_ms, 1))
                self._metrics.add_metric(
                    name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms
                )
            subsegment.put_annotation("upstream_status", str(answer.status))
        return answer

    def _request(
        self, path: str, token: str, timeout: Timeout, retries: Retry, deadline: Deadline
    ) -> UpstreamResponse:
        try:
            response = self._pool.request(
                "GET",
                self._settings.upstream_base_url + path,
                headers={**BASE_HEADERS, "Authorization": f"Bearer {token}"},
                timeout=timeout,
                retries=retries,
                redirect=False,
                preload_content=False,
            )
        except MaxRetryError as exc:
            raise _transport_error(exc.reason) from None
        except HTTPError as exc:
            raise _transport_error(exc) from None
        try:
            body = _read_capped(response, deadline)
        except HTTPError as exc:
            response.close()
            raise _transport_error(exc) from None
        except BaseException:
            response.close()
            raise
        response.release_conn()
        return UpstreamResponse(
            status=response.status, body=body, retry_after=response.headers.get("Retry-After")
        )

    def _raise_for_status(self, answer: UpstreamResponse) -> NoReturn:
        """Map a non-success answer to the error contract; the upstream's message is logged, not shown."""
        self._logger.warning(
            "upstream refused",
            extra={"upstream_status": answer.status, "upstream_message": self._upstream_message(answer)},
        )
        if answer.status == 404:
            raise TaskNotFoundError("the aggregator does not know this task")
        if answer.status == 429:
            raise UpstreamRateLimitedError(
                "the aggregator is rate limiting; try again later",
                retry_after=_seconds(answer.retry_after, RATE_LIMIT_RETRY_AFTER),
            )
        if 300 <= answer.status < 400:
            raise UpstreamError("upstream answered with a redirect, which is not followed")
        raise UpstreamError(f"upstream answered HTTP {answer.status}")

    def _upstream_message(self, answer: UpstreamResponse) -> str | None:
        document = answer.document()
        if not isinstance(document, dict):
            return None
        detail, error = document.get("detail"), document.get("error")
        if isinstance(detail, dict):
            return self._clean_text(detail.get("reason") or detail.get("message"))
        if isinstance(error, dict):
            return self._clean_text(error.get("message"))
        return self._clean_text(detail or error or document.get("message"))

    def _clean_text(self, value: object) -> str | None:
        """Upstream text made safe to log or show: the token masked, control characters gone, short."""
        if not isinstance(value, str) or not value.strip():
            return None
        text = _CONTROL_CHARS.sub(" ", value).strip()
        for token in self._tokens_used:
            text = text.replace(token, "***")
        return _KEY_LIKE.sub("***", text)[:300]


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# Resellers' keys look like OpenAI's ("sk-..."): mask any, even one this container never sent.
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")


def _read_capped(response: urllib3.BaseHTTPResponse, deadline: Deadline) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise UpstreamError("upstream response is too large")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.stream(16 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise UpstreamError("upstream response is too large")
        if deadline.remaining() <= 0:
            raise UpstreamTimeoutError("out of time while reading the upstream answer")
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_error(reason: Exception | None) -> Exception:
    if isinstance(reason, ReadTimeoutError):
        return UpstreamTimeoutError("the aggregator did not answer in time")
    if isinstance(reason, ConnectTimeoutError | NewConnectionError | NameResolutionError):
        return UpstreamUnavailableError("the aggregator is unreachable", retry_after=5)
    return UpstreamError("the aggregator broke the connection or spoke bad HTTP")


def _seconds(retry_after: str | None, default: int) -> int:
    if retry_after and retry_after.strip().isdigit():
        return max(1, min(int(retry_after.strip()), 3600))
    return default
