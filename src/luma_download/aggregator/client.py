"""The aggregator client: a task's download link, with the token, the 401/403 re-read and both calls."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from urllib3.connectionpool import HTTPConnectionPool

from luma_download.aggregator.protocol import (
    download_path,
    error_for_status,
    parse_document,
    task_path,
    url_from_download_answer,
    url_from_task,
)
from luma_download.aggregator.safe_text import upstream_message
from luma_download.aggregator.secret_token import TokenSource
from luma_download.aggregator.transport import Timeouts, UpstreamResponse, get
from luma_download.errors import LumaDownloadError, UpstreamError
from luma_download.model import Deadline, DownloadLink, LinkOutcome, elapsed_ms
from luma_download.settings import Settings
from luma_download.url_rules import checked_link_facts, holds_secret


class UpstreamClient:
    """Holds only what lives as long as the container: the aggregator's connection pool (see
    ``transport.build_host_pool``), the timeouts, the settings and the token source."""

    def __init__(
        self, *, pool: HTTPConnectionPool, timeouts: Timeouts, settings: Settings, tokens: TokenSource
    ) -> None:
        self._pool = pool
        self._timeouts = timeouts
        self._base_path = urlsplit(settings.upstream_base_url).path
        self._settings = settings
        self._tokens = tokens

    def fetch_download_link(self, task_id: str, deadline: Deadline) -> LinkOutcome:
        """``task_id`` must already be validated (``task_id.validate_task_id``).

        ``upstream_ms`` is the time spent on the upstreams (token read and aggregator calls); an
        error carries it too.
        """
        started = time.perf_counter()
        try:
            link = self._fetch(task_id, deadline)
        except LumaDownloadError as exc:
            exc.upstream_ms = elapsed_ms(started)
            raise
        return LinkOutcome(link, upstream_ms=elapsed_ms(started))

    def _fetch(self, task_id: str, deadline: Deadline) -> DownloadLink:
        answer = self._authorized_get(download_path(task_id), deadline)
        if answer.status == 200:
            url = url_from_download_answer(parse_document(answer.body))
            if url is not None:
                return self._link(task_id, url)
        elif answer.status != 400:
            raise self._refusal(answer)
        # Resellers answer 400 (or no url) until the task has completed: the task says why.
        answer = self._authorized_get(task_path(task_id), deadline)
        if answer.status != 200:
            raise self._refusal(answer)
        return self._link(task_id, url_from_task(parse_document(answer.body), self._tokens.recent()))

    def _link(self, task_id: str, url: object) -> DownloadLink:
        checked, (expires_at, log_url) = checked_link_facts(
            url, self._settings.allowed_redirect_hosts, allow_loopback=self._settings.upstream_is_loopback
        )
        if holds_secret(checked, self._tokens.recent()):
            # It would reach Location, the JSON, the workflow's output and the log.
            raise UpstreamError("upstream video URL is not usable", detail="the link holds our token")
        return DownloadLink(task_id, checked, expires_at, log_url=log_url)

    def _authorized_get(self, path: str, deadline: Deadline) -> UpstreamResponse:
        token = self._tokens.get(deadline)
        answer = self._get(path, token, deadline)
        if answer.status in (401, 403):
            # A rotated secret is picked up without a redeploy: re-read it, retry once if it changed.
            fresh = self._tokens.refresh(deadline)
            if fresh != token:
                answer = self._get(path, fresh, deadline)
            if answer.status in (401, 403):
                error = UpstreamError(
                    "upstream rejected this service's credentials",
                    detail="upstream rejected the token after re-reading the secret",
                )
                error.upstream_status = answer.status
                raise error
        return answer

    def _get(self, path: str, token: str, deadline: Deadline) -> UpstreamResponse:
        return get(
            self._pool, self._base_path + path, token=token, deadline=deadline, timeouts=self._timeouts
        )

    def _refusal(self, answer: UpstreamResponse) -> LumaDownloadError:
        message = upstream_message(parse_document(answer.body), self._tokens.recent())
        return error_for_status(answer.status, answer.retry_after, message)
