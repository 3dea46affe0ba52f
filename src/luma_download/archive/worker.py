"""The archive worker: SQS batches of archive jobs, consumed with the Powertools batch utility.

Each message is one job, with its own request record (front door ``sqs``). A failed job is
reported back to SQS (``ReportBatchItemFailures``) so that only it is received again; after a
few receives the queue moves it to its dead-letter queue. A batch where every job failed is
reported the same way, not raised.

With ``ArchiveEvents``, a job that makes a new copy puts ``Video Archived``, and a job that fails on
its last allowed receive puts ``Video Archive Failed`` (``archive.events``); either event is a note
on the job's line, sent or failed, never the job's failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from luma_download.archive.events import archive_failed_event, archived_event, put_event
from luma_download.archive.jobs import task_id_from_job
from luma_download.errors import LumaDownloadError
from luma_download.model import ArchiveEvents, Archiver, CopyOutcome, Deadline
from luma_download.request_record import RequestRecord

# Time kept back from the invocation: a cut upload must still be aborted before Lambda stops us.
RESERVE_SECONDS = 5.0
# An event is put once the upload is done or aborted, so it may use that reserve, less a second to answer:
# a job that failed by running out of time is still told.
EVENT_RESERVE_SECONDS = 1.0


def consume(
    event: dict[str, Any],
    context: Any,
    copy: Archiver,
    report: Callable[[RequestRecord], None],
    events: ArchiveEvents | None = None,
) -> Any:
    """Run each job of an SQS event; the answer lists the messages that failed."""
    deadline = Deadline.from_context(context, reserve=RESERVE_SECONDS)
    event_deadline = Deadline.from_context(context, reserve=EVENT_RESERVE_SECONDS)

    # Powertools passes the message as ``record=``.
    def run_job(record: SQSRecord) -> None:
        job = RequestRecord(front_door="sqs", correlation_id=record.message_id)
        try:
            job.task_id = task_id = task_id_from_job(record.body)
            done = copy(task_id, deadline)
            job.copied(done)
        except Exception as exc:
            if isinstance(exc, LumaDownloadError):
                job.failed(exc)
            else:
                job.crashed(exc)
            job.archive = "failed"
            if events is not None:
                tell_failed(events, job, exc, receive_count(record), event_deadline)
            raise
        else:
            if events is not None:
                tell_archived(events, job, done, event_deadline)
        finally:
            report(job)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=run_job, processor=processor, context=context)


def tell_archived(events: ArchiveEvents, job: RequestRecord, done: CopyOutcome, deadline: Deadline) -> None:
    """``Video Archived`` for a copy made now; a copy that was there already is no news."""
    facts = done.copy.provenance
    if not done.made or facts is None:
        return
    entry = archived_event(
        events.bus,
        done.copy,
        sha256=facts.sha256,
        content_type=facts.content_type,
        archived_at=facts.archived_at,
        source_host=facts.source_host,
    )
    job.event_put(*put_event(events.client, entry, deadline))


def tell_failed(
    events: ArchiveEvents, job: RequestRecord, error: Exception, received: int | None, deadline: Deadline
) -> None:
    """``Video Archive Failed`` when this was the job's last allowed receive (the dead-letter queue is
    next) and its task is known (a body without one names nothing to report on)."""
    if job.task_id is None or received is None or received < events.max_receives:
        return
    # What a caller may be told (the error contract's code and message), never the detail or a bug's text.
    reason = f"{error.code}: {error.message}" if isinstance(error, LumaDownloadError) else "internal_error"
    entry = archive_failed_event(events.bus, job.task_id, reason=reason, receive_count=received)
    job.event_put(*put_event(events.client, entry, deadline))


def receive_count(record: SQSRecord) -> int | None:
    """The message's ``ApproximateReceiveCount`` (this receive included); None when absent or not a number."""
    attributes = record.get("attributes")
    raw = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None
