"""The archive worker: SQS batches of archive jobs, consumed with the Powertools batch utility.

Each message is one job, with its own request record (front door ``sqs``). A failed job is
reported back to SQS (``ReportBatchItemFailures``) so that only it is received again; after a
few receives the queue moves it to its dead-letter queue. A batch where every job failed is
reported the same way, not raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from luma_download.archive.jobs import task_id_from_job
from luma_download.errors import LumaDownloadError
from luma_download.model import Archiver, Deadline
from luma_download.request_record import RequestRecord

# Time kept back from the invocation: a cut upload must still be aborted before Lambda stops us.
RESERVE_SECONDS = 5.0


def consume(
    event: dict[str, Any], context: Any, copy: Archiver, report: Callable[[RequestRecord], None]
) -> Any:
    """Run each job of an SQS event; the answer lists the messages that failed."""
    deadline = Deadline.from_context(context, reserve=RESERVE_SECONDS)

    # Powertools passes the message as ``record=``.
    def run_job(record: SQSRecord) -> None:
        job = RequestRecord(front_door="sqs", correlation_id=record.message_id)
        try:
            job.task_id = task_id = task_id_from_job(record.body)
            job.copied(copy(task_id, deadline))
        except LumaDownloadError as exc:
            job.failed(exc)
            job.archive = "failed"
            raise
        except Exception as exc:
            job.crashed(exc)
            job.archive = "failed"
            raise
        finally:
            report(job)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=run_job, processor=processor, context=context)
