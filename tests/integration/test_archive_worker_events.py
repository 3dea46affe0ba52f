"""The worker's events, through the real handler: moto's S3, SQS and EventBridge (server mode), the
aggregator simulator serving the video over loopback, and a rule on the bus that hands every
``luma-download`` event to a queue of its own (``bus``).

A new copy puts exactly one ``Video Archived``, whose size and SHA-256 are those of the bytes the
simulator served; a duplicate job puts none; a job that fails puts ``Video Archive Failed`` only on
its last allowed receive; a put that fails is logged and counted, and the job stands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local.aggregator import Aggregator, Reply
from local.demo_video import padded_mp4
from local.lambda_context import LocalLambdaContext
from local.sqs_poller import poll_once
from luma_download.archive.worker import consume
from luma_download.model import ArchiveEvents, CopyOutcome, Deadline
from luma_download.request_record import RequestRecord
from tests.conftest import EVENT_TASK_ID, LogLines, schema_errors
from tests.integration.conftest import (
    INITIAL_TOKEN,
    ArchiveRig,
    Bus,
    closed_port,
    completed_with_file,
    emf_blobs,
    sha256,
)

TASK = EVENT_TASK_ID
MAX_RECEIVES = 3
# Over one 8 MiB part: S3 keeps each part's checksum, the event says the whole file's.
VIDEO = padded_mp4(12 * 1024 * 1024)
REFUSED = "archive_download_failed: the video host answered HTTP 403"


def worker(rig: ArchiveRig, bus_name: str) -> Any:
    """The worker's wiring, as the template sets it: its bus and the queue's maxReceiveCount."""
    return rig.build(EVENT_BUS_NAME=bus_name, ARCHIVE_MAX_RECEIVES=str(MAX_RECEIVES)).handle


def job_event(event: Callable[..., Any], receive_count: int) -> Any:
    """events/sqs_archive_job.json (a job for TASK), received for the ``receive_count``-th time."""
    job = event("sqs_archive_job.json", task_id=TASK)
    job["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return job


def refused_download(aggregator: Aggregator) -> None:
    completed_with_file(aggregator, data=VIDEO)
    aggregator.files[TASK].reply = Reply(403, b"<Error><Code>AccessDenied</Code></Error>")


def job_lines(log_lines: LogLines) -> list[dict[str, Any]]:
    return [line for line in log_lines.records() if line.get("message") == "request done"]


def test_a_new_copy_puts_one_video_archived_and_a_duplicate_puts_none(
    archive_rig: ArchiveRig, aggregator: Aggregator, bus: Bus, log_lines: LogLines
) -> None:
    # Given the worker on a bus, and a task whose video the simulator serves
    handle = worker(archive_rig, bus.name)
    completed_with_file(aggregator, data=VIDEO)

    # When a job for it runs
    archive_rig.send_job(json.dumps({"task_id": TASK}))
    (job,) = archive_rig.run_jobs(handle)

    # Then the rule got exactly one Video Archived, which says the served file's size and SHA-256
    assert job.failed == []
    (event,) = bus.delivered()
    assert (event["source"], event["detail-type"]) == ("luma-download", "Video Archived")
    assert schema_errors("video-archived.schema.json", event["detail"]) == []
    head = archive_rig.s3.head_object(Bucket=archive_rig.bucket, Key=archive_rig.key(TASK))
    assert event["detail"] == {
        "task_id": TASK,
        "s3_uri": f"s3://{archive_rig.bucket}/{archive_rig.key(TASK)}",
        "size": len(VIDEO),
        "sha256": sha256(VIDEO),
        "content_type": "video/mp4",
        "archived_at": head["Metadata"]["archived-at"],
        "source_host": "127.0.0.1",
    }
    assert sha256(archive_rig.stored(TASK) or b"") == sha256(VIDEO)
    assert log_lines.last("request done")["archive_event"] == "sent"

    # When a duplicate of the job arrives (normal on a standard queue)
    archive_rig.send_job(json.dumps({"task_id": TASK}))
    (again,) = archive_rig.run_jobs(handle)

    # Then it succeeds on the copy there, and tells nobody
    assert again.failed == []
    assert bus.delivered() == []
    line = log_lines.last("request done")
    assert line["archive"] == "present"
    assert "archive_event" not in line


def test_a_failed_job_puts_video_archive_failed_only_on_its_last_receive(
    archive_rig: ArchiveRig,
    aggregator: Aggregator,
    bus: Bus,
    event: Callable[..., Any],
    log_lines: LogLines,
) -> None:
    # Given the worker on a bus, and a video host that refuses the download
    handle = worker(archive_rig, bus.name)
    refused_download(aggregator)

    # When the job fails on a receive before its last: SQS will hand it out again, nothing is told
    early = handle(job_event(event, MAX_RECEIVES - 1), LocalLambdaContext())
    assert early == {"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]}
    assert bus.delivered() == []
    assert "archive_event" not in log_lines.last("request done")

    # When it fails on its last allowed receive: the dead-letter queue is next
    last = handle(job_event(event, MAX_RECEIVES), LocalLambdaContext())

    # Then the job still fails, and the rule got exactly one Video Archive Failed
    assert last == early
    (failed,) = bus.delivered()
    assert (failed["source"], failed["detail-type"]) == ("luma-download", "Video Archive Failed")
    assert schema_errors("video-archive-failed.schema.json", failed["detail"]) == []
    # The reason is the error contract's code and message: what a caller may be told, nothing more
    assert failed["detail"] == {"task_id": TASK, "reason": REFUSED, "receive_count": MAX_RECEIVES}
    assert INITIAL_TOKEN not in json.dumps(failed)
    line = log_lines.last("request done")
    assert (line["outcome"], line["archive"], line["archive_event"]) == (
        "archive_download_failed",
        "failed",
        "sent",
    )
    assert archive_rig.stored(TASK) is None


def test_a_job_sqs_gives_up_on_is_told_once_before_the_dead_letter_queue(
    archive_rig: ArchiveRig, aggregator: Aggregator, bus: Bus, embedded_aws: Any, log_lines: LogLines
) -> None:
    """SQS's own ApproximateReceiveCount, through the event source mapping (``poll_once``)."""
    # Given a queue that hands a failed job out again at once, and moves it aside after 3 receives
    queue_url = embedded_aws.create_queue(
        f"{archive_rig.bucket}-retry", max_receives=MAX_RECEIVES, visibility_timeout=0
    )
    handle = worker(archive_rig, bus.name)
    refused_download(aggregator)
    archive_rig.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"task_id": TASK}))

    failed = []
    for _ in range(MAX_RECEIVES + 2):  # bounded: three receives, then the queue is empty
        result = poll_once(archive_rig.sqs, queue_url, handle, timeout_seconds=60)
        if not result.received:
            break
        failed += result.failed

    # Then the third receive, and only it, told the bus; the job is in the dead-letter queue
    assert len(failed) == MAX_RECEIVES
    (told,) = bus.delivered()
    assert told["detail"] == {"task_id": TASK, "reason": REFUSED, "receive_count": MAX_RECEIVES}
    assert [line.get("archive_event") for line in job_lines(log_lines)] == [None, None, "sent"]
    dead = archive_rig.sqs.receive_message(QueueUrl=f"{queue_url}-dlq").get("Messages", [])
    assert [json.loads(message["Body"]) for message in dead] == [{"task_id": TASK}]


def test_a_job_out_of_time_on_its_last_receive_is_still_told(
    archive_rig: ArchiveRig, aggregator: Aggregator, bus: Bus, event: Callable[..., Any], log_lines: LogLines
) -> None:
    """The download ends at the worker's deadline (the invocation's less 5 s, kept to abort the upload);
    once the upload is aborted, the event may use that time."""

    # Given an invocation with 1.5 s for the copy (6.5 s less the 5 s reserve), and a video host that
    # stalls for 3 s once the upload is open
    def stall() -> None:
        time.sleep(3)

    completed_with_file(aggregator, data=VIDEO, cut_after=10 * 1024 * 1024, before_cut=stall)
    handle = archive_rig.build(
        EVENT_BUS_NAME=bus.name, ARCHIVE_MAX_RECEIVES="1", UPSTREAM_READ_TIMEOUT="5"
    ).handle

    answer = handle(job_event(event, 1), LocalLambdaContext(timeout_seconds=6.5))

    assert len(answer["batchItemFailures"]) == 1
    (told,) = bus.delivered()
    assert told["detail"] == {
        "task_id": TASK,
        "reason": "upstream_timeout: the video host did not answer in time",
        "receive_count": 1,
    }
    assert log_lines.last("request done")["archive_event"] == "sent"


@pytest.mark.parametrize("fault", ["missing bus", "endpoint refusing"])
def test_a_failed_put_is_logged_and_counted_and_the_copy_stands(
    archive_rig: ArchiveRig,
    aggregator: Aggregator,
    log_lines: LogLines,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    # Given a worker whose puts fail: its bus does not exist, or nothing listens at EventBridge's address
    if fault == "endpoint refusing":
        monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", f"http://127.0.0.1:{closed_port()}")
    handle = worker(archive_rig, "no-such-bus")
    completed_with_file(aggregator, data=VIDEO)
    capsys.readouterr()

    # When a job makes a new copy
    message_id = archive_rig.send_job(json.dumps({"task_id": TASK}))
    (job,) = archive_rig.run_jobs(handle)

    # Then the job succeeds and the copy is there
    assert job.received == [message_id]
    assert job.failed == []
    assert archive_rig.stored(TASK) == VIDEO
    # and the line says the event was not sent, and why; ArchiveEventsFailed counts it
    line = log_lines.last("request done")
    assert (line["outcome"], line["archive"], line["archive_event"]) == ("archived", "copied", "failed")
    reason = {
        "missing bus": "EventBridge error ResourceNotFoundException",
        "endpoint refusing": "EventBridge EndpointConnectionError",
    }[fault]
    assert line["detail"] == f"archive event not sent: {reason}"
    blobs = emf_blobs(capsys.readouterr().out)
    assert [blob["ArchiveEventsFailed"] for blob in blobs if "ArchiveEventsFailed" in blob] == [[1.0]]
    assert not [blob for blob in blobs if "ArchiveFailures" in blob]  # a note, not an archive failure


def test_without_a_bus_nothing_is_put_or_logged_about_events(
    archive_rig: ArchiveRig, aggregator: Aggregator, log_lines: LogLines
) -> None:
    """EVENT_BUS_NAME empty (the template's choice to send nothing): no client, no events, no field."""
    completed_with_file(aggregator, data=VIDEO)
    assert "EVENT_BUS_NAME" not in archive_rig.env

    archive_rig.send_job(json.dumps({"task_id": TASK}))
    (job,) = archive_rig.run_jobs()

    assert archive_rig.function.archive_clients({**archive_rig.env, "EVENT_BUS_NAME": " "}).events is None
    assert job.failed == []
    line = log_lines.last("request done")
    assert line["archive"] == "copied"
    assert "archive_event" not in line
    assert "detail" not in line


def test_the_request_path_puts_no_events(
    archive_rig: ArchiveRig, aggregator: Aggregator, bus: Bus, log_lines: LogLines
) -> None:
    """A direct invoke with "archive": true makes the copy itself: the worker's events are its own."""
    completed_with_file(aggregator, data=VIDEO)
    handle = worker(archive_rig, bus.name)

    document = handle({"task_id": TASK, "archive": True}, LocalLambdaContext())

    assert document["size"] == len(VIDEO)
    assert log_lines.last("request done")["archive"] == "copied"
    assert bus.delivered() == []


def test_a_bug_on_the_last_receive_is_told_without_its_text_and_a_job_without_a_task_is_not_told(
    bus: Bus, event: Callable[..., Any]
) -> None:
    """The worker itself, with an archiver that crashes: the event says ``internal_error`` only."""

    def crash(task_id: str, deadline: Deadline) -> CopyOutcome:
        raise RuntimeError(f"a bug that shows {INITIAL_TOKEN}")

    jobs = job_event(event, MAX_RECEIVES)
    jobs["Records"].append({**jobs["Records"][0], "messageId": "no-task", "body": "not json"})
    lines: list[RequestRecord] = []
    events = ArchiveEvents(boto3.client("events"), bus.name, MAX_RECEIVES)

    answer = consume(jobs, LocalLambdaContext(), crash, lines.append, events)

    assert len(answer["batchItemFailures"]) == 2
    (told,) = bus.delivered()
    assert told["detail"] == {"task_id": TASK, "reason": "internal_error", "receive_count": MAX_RECEIVES}
    assert [(line.outcome, line.archive_event) for line in lines] == [
        ("internal_error", "sent"),
        ("invalid_request", None),
    ]
