"""Archive jobs: ``{"task_id": "..."}`` on an SQS standard queue, whoever sends them.

The request path sends one whenever it answers with an aggregator link; the worker consumes them.
A job that cannot be sent is the request's note, never its failure.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from luma_download.errors import InvalidRequestError, aws_error_code
from luma_download.task_id import validate_task_id


def job_body(task_id: str) -> str:
    return json.dumps({"task_id": task_id})


def task_id_from_job(body: object) -> str:
    """The validated task id of a job's body; ``InvalidRequestError`` for anything else."""
    try:
        job = json.loads(body) if isinstance(body, str) else None
    except (ValueError, RecursionError):
        job = None
    if not isinstance(job, dict) or "task_id" not in job:
        raise InvalidRequestError('an archive job is {"task_id": "<id>"}')
    return validate_task_id(job["task_id"])


def enqueue(sqs: Any, queue_url: str, task_id: str) -> str | None:
    """Send the task's job; ``None`` when sent, else why not (for the operator's log)."""
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody=job_body(task_id))
    except ClientError as exc:
        return f"SQS error {aws_error_code(exc, 'unknown')}"
    except BotoCoreError as exc:
        return f"SQS {type(exc).__name__}"
    return None
