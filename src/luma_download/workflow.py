"""The direct-invoke contract for Step Functions and other Lambdas.

In: ``{"task_id": "<id>"}`` (other keys are ignored, so a state's whole input can be passed).
Out: ``{"task_id", "url", "expires_at", "source"}``, or one of the exceptions in ``errors`` raised as is.
With ``"archive": true``: the task is archived now (or its copy found), and the answer is
``{"task_id", "url", "expires_at", "source": "archive", "s3_uri", "size"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from luma_download.errors import ArchiveDisabledError, InvalidRequestError
from luma_download.model import CopyOutcome, Deadline, DownloadLink, LinkGetter
from luma_download.request_record import RequestRecord
from luma_download.task_id import validate_task_id


def is_direct_invoke(event: object) -> bool:
    """``{"task_id": ...}`` with any other keys, except an API Gateway request's own context."""
    return (
        isinstance(event, dict) and "task_id" in event and not isinstance(event.get("requestContext"), dict)
    )


def task_id_from_event(event: Mapping[str, Any]) -> str:
    if "task_id" not in event:
        raise InvalidRequestError('expected {"task_id": "<id>"}')
    return validate_task_id(event["task_id"])


def wants_archive(event: Mapping[str, Any]) -> bool:
    value = event.get("archive", False)
    if not isinstance(value, bool):
        raise InvalidRequestError('"archive" must be true or false')
    return value


def invoke(
    event: Mapping[str, Any],
    get_link: LinkGetter,
    deadline: Deadline,
    record: RequestRecord,
    archive_now: Callable[[str, Deadline], CopyOutcome] | None = None,
) -> Any:
    """The link document for a direct invoke; errors are raised as is for the caller to match.

    ``archive_now`` is ``None`` when this deployment keeps no archive.
    """
    record.task_id = task_id = task_id_from_event(event)
    if wants_archive(event):
        if archive_now is None:
            raise ArchiveDisabledError("this deployment keeps no archive (ARCHIVE_BUCKET is empty)")
        try:
            result = archive_now(task_id, deadline)
        except Exception:
            record.archive = "failed"
            raise
        record.copied(result, "data")
        return {**link_document(result.link), "s3_uri": result.copy.s3_uri, "size": result.copy.size}
    found = get_link(task_id, deadline)
    record.served(found, "data")
    return link_document(found.link)


def link_document(link: DownloadLink) -> dict[str, str | None]:
    """The JSON a workflow gets; HTTP callers asking for JSON get the same."""
    expires_at = link.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if link.expires_at else None
    return {"task_id": link.task_id, "url": link.url, "expires_at": expires_at, "source": link.source}
