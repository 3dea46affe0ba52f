"""The direct-invoke contract for Step Functions and other Lambdas (schemas: ``docs/schemas/``).

In: ``{"task_id": "<id>"}``, or a batch ``{"task_ids": ["<id>", ...]}`` (``batch``); either may add
``"archive": true``. Other keys are ignored, so a state's whole input can be passed.
Out: ``{"task_id", "url", "expires_at", "source"}``, or one of the exceptions in ``errors`` raised as
is; with ``"archive": true`` the task is archived now (or its copy found) and the answer adds
``"s3_uri"`` and ``"size"`` (``"source": "archive"``). A batch answers ``{"count", "ok", "failed",
"results"}`` and raises only for a malformed request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from luma_download.errors import ArchiveDisabledError, InvalidRequestError
from luma_download.front_doors.batch import Entry, resolve_batch, task_ids_from_event
from luma_download.model import Archiver, CopyOutcome, Deadline, DownloadLink, LinkGetter
from luma_download.request_record import RequestRecord
from luma_download.task_id import validate_task_id


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
    """The link document for a direct invoke; errors are raised as is for the caller to match.

    ``archive`` is ``None`` when this deployment keeps no archive.
    """
    archiving = archiver_for(event, archive)
    if "task_ids" in event:
        if "task_id" in event:
            raise InvalidRequestError('send "task_id" or "task_ids", not both')
        ids = task_ids_from_event(event)

        def resolve_one(task_id: str, deadline: Deadline) -> Entry:
            if archiving is not None:
                return archived_document(archiving(task_id, deadline))
            return link_document(get_link(task_id, deadline).link)

        return resolve_batch(ids, resolve_one, deadline, record)
    record.task_id = task_id = task_id_from_event(event)
    if archiving is not None:
        try:
            result = archiving(task_id, deadline)
        except Exception:
            record.archive = "failed"
            raise
        record.copied(result, "data")
        return archived_document(result)
    found = get_link(task_id, deadline)
    record.served(found, "data")
    return link_document(found.link)


def archiver_for(event: Mapping[str, Any], archive: Archiver | None) -> Archiver | None:
    """The archive to use when the event asks for one (``"archive": true``), else None."""
    wanted = event.get("archive", False)
    if not isinstance(wanted, bool):
        raise InvalidRequestError('"archive" must be true or false')
    if wanted and archive is None:
        raise ArchiveDisabledError()
    return archive if wanted else None


def archived_document(result: CopyOutcome) -> dict[str, Any]:
    """The link document of an archived copy, with where it lies and its size."""
    return {**link_document(result.link), "s3_uri": result.copy.s3_uri, "size": result.copy.size}


EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, whole seconds


def link_document(link: DownloadLink) -> dict[str, str | None]:
    """The JSON a workflow gets; HTTP callers asking for JSON get the same."""
    expires = link.expires_at
    expires_at = None if expires is None else time.strftime(EXPIRES_FORMAT, time.gmtime(expires))
    return {"task_id": link.task_id, "url": link.url, "expires_at": expires_at, "source": link.source}
