"""The direct-invoke contract for Step Functions and other Lambdas (schemas: ``docs/schemas/``).

In: ``{"task_id": "<id>"}``, or a batch ``{"task_ids": ["<id>", ...]}`` (``batch``); either may add
``"archive": true``. Other keys are ignored, so a state's whole input can be passed.
Out: ``{"task_id", "url", "expires_at"}``, or one of the exceptions in ``errors`` raised as is; a batch
answers ``{"count", "ok", "failed", "results"}`` and raises only for a malformed request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from luma_download.batch import Entry, resolve_batch, task_ids_from_event
from luma_download.errors import InvalidRequestError
from luma_download.model import Deadline, DownloadLink, LinkGetter
from luma_download.request_record import RequestRecord
from luma_download.task_id import validate_task_id

# The archive (issue 9) plugs in here: a validated task id to its archived copy's document
# (``{"task_id", "url", "expires_at", "source": "archive", "s3_uri", "size"}``) before the deadline.
Archiver = Callable[[str, Deadline], dict[str, Any]]


def is_direct_invoke(event: object) -> bool:
    """``{"task_id": ...}`` or ``{"task_ids": ...}`` with any other keys, except an API Gateway
    request's own context."""
    return (
        isinstance(event, dict)
        and ("task_id" in event or "task_ids" in event)
        and not isinstance(event.get("requestContext"), dict)
    )


def task_id_from_event(event: Mapping[str, Any]) -> str:
    if "task_id" not in event:
        raise InvalidRequestError('expected {"task_id": "<id>"}')
    return validate_task_id(event["task_id"])


def invoke(
    event: Mapping[str, Any],
    get_link: LinkGetter,
    deadline: Deadline,
    record: RequestRecord,
    archive: Archiver | None = None,
) -> Any:
    """The link document for a direct invoke; errors are raised as is for the caller to match."""
    archiving = _archiver(event, archive)
    if "task_ids" in event:
        if "task_id" in event:
            raise InvalidRequestError('send "task_id" or "task_ids", not both')
        ids = task_ids_from_event(event)

        def resolve_one(task_id: str, deadline: Deadline) -> Entry:
            if archiving is not None:
                return archiving(task_id, deadline)
            link = get_link(task_id, deadline).link
            return {**link_document(link), "source": link.source}

        return resolve_batch(ids, resolve_one, deadline, record)
    record.task_id = task_id = task_id_from_event(event)
    if archiving is not None:
        document = archiving(task_id, deadline)
        record.outcome, record.source = "data", "archive"
        return document
    found = get_link(task_id, deadline)
    record.served(found, "data")
    return link_document(found.link)


def _archiver(event: Mapping[str, Any], archive: Archiver | None) -> Archiver | None:
    """The archive to use when the event asks for one (``"archive": true``), else None."""
    wanted = event.get("archive", False)
    if not isinstance(wanted, bool):
        raise InvalidRequestError('"archive" must be true or false')
    if wanted and archive is None:
        raise InvalidRequestError("archiving is not configured")
    return archive if wanted else None


def link_document(link: DownloadLink) -> dict[str, str | None]:
    """The JSON a workflow gets; HTTP callers asking for JSON get the same."""
    expires_at = link.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if link.expires_at else None
    return {"task_id": link.task_id, "url": link.url, "expires_at": expires_at}
