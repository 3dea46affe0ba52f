"""The error contract.

Each class maps to one HTTP status and one ``error.code`` (see ``http_api``), and is raised as is to
direct callers: Lambda reports the class name as ``errorType``, which Step Functions ``Retry`` and
``Catch`` match. Renaming a class is a breaking change. Messages are safe to show a client: they never
hold the token or a signed URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from botocore.exceptions import ClientError


class LumaDownloadError(Exception):
    """Base of every error this function answers with on purpose.

    ``message`` is for the caller. The other fields say what happened, for the operator's request
    record only: ``detail`` (never shown to a caller), the aggregator's status, the time spent
    upstream and whether the link cache was asked.
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    upstream_status: int | None = None
    upstream_ms: float | None = None
    link_cache: Literal["hit", "miss"] | None = None

    def __init__(self, message: str, *, retry_after: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.detail = detail


class InvalidRequestError(LumaDownloadError):
    """The event or request is not one this function understands."""

    status = 400
    code = "invalid_request"


class InvalidTaskIdError(InvalidRequestError):
    """The task id fails the strict pattern; nothing was sent upstream."""

    code = "invalid_task_id"


class TaskNotFoundError(LumaDownloadError):
    """The aggregator does not know this task."""

    status = 404
    code = "task_not_found"


class VideoNotReadyError(LumaDownloadError):
    """The task exists but has no video yet: ask again after ``retry_after`` seconds."""

    status = 409
    code = "video_not_ready"

    def __init__(self, message: str, *, state: str | None = None, retry_after: int = 10) -> None:
        super().__init__(message, retry_after=retry_after)
        self.state = state


class TaskFailedError(LumaDownloadError):
    """The generation failed; asking again will not help."""

    status = 410
    code = "task_failed"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class UpstreamRateLimitedError(LumaDownloadError):
    """The aggregator answered 429 and its wait does not fit in this invocation."""

    status = 429
    code = "rate_limited"


class UpstreamError(LumaDownloadError):
    """The aggregator answered, but not with anything usable."""

    status = 502
    code = "bad_upstream"


class UpstreamUnavailableError(LumaDownloadError):
    """The aggregator (or Secrets Manager) could not be reached."""

    status = 503
    code = "upstream_unavailable"


class UpstreamTimeoutError(LumaDownloadError):
    """The invocation ran out of time before the aggregator answered."""

    status = 504
    code = "upstream_timeout"


class ArchiveDisabledError(InvalidRequestError):
    """An archive was asked for, but this deployment keeps no archive (``ARCHIVE_BUCKET`` is empty)."""

    code = "archive_disabled"

    def __init__(self) -> None:
        super().__init__("this deployment keeps no archive (ARCHIVE_BUCKET is empty)")


class ArchiveDownloadError(LumaDownloadError):
    """The video could not be fetched in full from the link the aggregator gave; a retry may work."""

    status = 502
    code = "archive_download_failed"


class VideoTooLargeError(LumaDownloadError):
    """The video is larger than ``ARCHIVE_MAX_BYTES``; it is not archived."""

    status = 502
    code = "video_too_large"


class ArchiveUnavailableError(LumaDownloadError):
    """The archive (S3, or the job queue) could not be reached or refused for now; a retry may work."""

    status = 503
    code = "archive_unavailable"


class ConfigurationError(LumaDownloadError):
    """The function is misconfigured: bad settings, or the token secret is missing or unreadable.

    Callers get a generic message; ``detail`` (which setting, which secret error) goes to the log.
    """

    status = 500
    code = "misconfigured"
    PUBLIC_MESSAGE: ClassVar[str] = "the service is misconfigured; its operator has the details"

    def __init__(self, detail: str) -> None:
        super().__init__(self.PUBLIC_MESSAGE, detail=detail)


def aws_error_code(error: ClientError, default: str) -> str:
    """The code an AWS service answered with (``NoSuchKey``, ``ThrottlingException``, ...), or ``default``."""
    return str(error.response.get("Error", {}).get("Code", default))
