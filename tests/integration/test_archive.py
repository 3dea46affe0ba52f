"""Permanent links: a resolved video is copied to the deployer's bucket and served from there for good.

Real parts only: moto's S3 and SQS (server mode), the aggregator simulator serving real MP4 bytes
over loopback (its own file links, as a reseller's storage), and the SQS event source mapping played
by ``local.sqs_poller``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from local.aggregator import Aggregator, FakeTask, Reply
from local.demo_video import DEMO_MP4, padded_mp4
from local.hostile import HANG, HostileServer, Script
from local.lambda_context import LocalLambdaContext
from local.sqs_poller import poll_once, sqs_event
from luma_download.aggregator.transport import Timeouts, open_video
from luma_download.errors import ArchiveDisabledError, UpstreamError
from luma_download.model import Deadline
from tests.conftest import LogLines
from tests.integration.conftest import (
    ArchiveRig,
    closed_port,
    completed_with_file,
    emf_blobs,
    fetch,
    sha256,
)

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"
VIDEO = DEMO_MP4.read_bytes()
BIG = 12 * 1024 * 1024  # over one 8 MiB part: the copy is a multipart upload


def path_of(response: dict[str, Any]) -> str:
    return urlsplit(location(response)).path


def get(handle: Any, event: Callable[..., Any], name: str = "http_api_get.json", task_id: str = TASK) -> Any:
    return handle(event(name, task_id=task_id), LocalLambdaContext())


def location(response: dict[str, Any]) -> str:
    """``Location``, from a single-value (HTTP API, Function URL) or multi-value (REST API) answer."""
    if "multiValueHeaders" in response:
        return str(response["multiValueHeaders"]["Location"][0])
    return str(response["headers"]["Location"])


def test_first_request_answers_from_the_aggregator_and_queues_a_job(
    archive_rig: ArchiveRig, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    file_path = completed_with_file(aggregator)

    response = get(archive_rig.handle, event)

    assert response["statusCode"] == 302
    assert path_of(response) == file_path
    line = log_lines.last("request done")
    assert (line["source"], line["archive"], line["archive_enqueue"]) == ("aggregator", "miss", "sent")
    assert archive_rig.queued()[0] == 1
    (message,) = archive_rig.sqs.receive_message(QueueUrl=archive_rig.queue_url)["Messages"]
    assert json.loads(message["Body"]) == {"task_id": TASK}


def test_an_archived_video_keeps_playing_after_the_aggregator_rotates(
    archive_rig: ArchiveRig,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a container that reuses a cached aggregator link for 0 s before asking the archive again
    handle = archive_rig.build(ARCHIVE_RECHECK_SECONDS="0").handle
    completed_with_file(aggregator)
    aggregator_link = location(get(handle, event))  # resolved: the job is queued

    # When the worker takes the job
    (job,) = archive_rig.run_jobs(handle)
    (download,) = aggregator.file_requests(TASK)
    assert download.authorization is None  # the aggregator's token never goes to the video host

    # Then the copy is the original, byte for byte, stored as an MP4 with its provenance and checksum
    assert job.failed == []
    assert sha256(archive_rig.stored(TASK) or b"") == sha256(VIDEO)
    head = archive_rig.s3.head_object(
        Bucket=archive_rig.bucket, Key=archive_rig.key(TASK), ChecksumMode="ENABLED"
    )
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == len(VIDEO)
    assert head["Metadata"]["task-id"] == TASK
    assert head["Metadata"]["source-host"] == "127.0.0.1"
    assert head["Metadata"]["archived-at"].endswith("Z")
    assert head["ChecksumSHA256"]
    copied = log_lines.last("request done")
    assert (copied["front_door"], copied["outcome"], copied["archive"]) == ("sqs", "archived", "copied")
    assert copied["archive_bytes"] == len(VIDEO)
    assert copied["s3_uri"] == f"s3://{archive_rig.bucket}/{archive_rig.key(TASK)}"

    # When the aggregator rotates its accounts: its tasks are gone and its old links are dead
    aggregator.rotate_accounts()
    assert fetch(aggregator_link)[0] == 403
    aggregator.requests.clear()

    # Then every front door, GET or HEAD, redirect or JSON, still leads to the same bytes
    for name in ("http_api_get.json", "rest_api_get.json", "function_url_get.json", "http_api_head.json"):
        response = get(handle, event, name)
        assert response["statusCode"] == 302, name
        status, body = fetch(location(response))
        assert (status, sha256(body)) == (200, sha256(VIDEO)), name
    document = json.loads(get(handle, event, "http_api_get_json.json")["body"])
    assert document["source"] == "archive"
    assert sha256(fetch(document["url"])[1]) == sha256(VIDEO)
    assert aggregator.requests == []  # neither the aggregator nor its quota was involved
    served = log_lines.last("request done")
    assert served["source"] == "archive"
    blobs = emf_blobs(capsys.readouterr().out)
    assert sum(blob.get("ArchiveHits", [0])[0] for blob in blobs) == 5
    assert any(blob.get("ArchiveCopies") == [1.0] for blob in blobs)
    assert any(blob.get("ArchiveBytes") == [float(len(VIDEO))] for blob in blobs)


def test_a_copy_beats_a_cached_aggregator_link_only_after_the_recheck(
    archive_rig: ArchiveRig, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given a warm container holding the aggregator's link (recheck after the default 60 s)
    completed_with_file(aggregator)
    link = location(get(archive_rig.handle, event))
    archive_rig.run_jobs()
    assert archive_rig.stored(TASK) is not None
    calls = len(archive_rig.s3_calls)

    # When the same task is asked for again within the recheck time
    again = get(archive_rig.handle, event)

    # Then the cached link answers, without asking S3; a fresh container serves the copy
    assert location(again) == link
    assert len(archive_rig.s3_calls) == calls
    fresh = get(archive_rig.build().handle, event)
    assert path_of(fresh) == f"/{archive_rig.bucket}/{archive_rig.key(TASK)}"


@pytest.mark.parametrize("fault", ["404", "401", "timeout", "gone"])
def test_a_video_we_hold_plays_whatever_the_aggregator_does(
    archive_rig: ArchiveRig, aggregator: Aggregator, event: Callable[..., Any], fault: str
) -> None:
    # Given a copy in the bucket and an aggregator that no longer helps
    archive_rig.s3.put_object(Bucket=archive_rig.bucket, Key=archive_rig.key(TASK), Body=VIDEO)
    changes = {}
    if fault == "401":
        aggregator.valid_tokens = set()
        completed_with_file(aggregator)
    elif fault == "timeout":
        completed_with_file(aggregator)
        path = f"/luma/generations/{TASK}/download_video_url"
        aggregator.script(path, *[Reply(200, {"url": "x"}, delay=1.6)] * 3)
    elif fault == "gone":
        changes["UPSTREAM_BASE_URL"] = f"http://127.0.0.1:{closed_port()}"
    handle = archive_rig.build(**changes).handle

    response = get(handle, event)

    assert response["statusCode"] == 302
    assert sha256(fetch(response["headers"]["Location"])[1]) == sha256(VIDEO)
    assert aggregator.requests == []


def test_a_cut_download_leaves_no_object_and_no_upload_and_fails_the_message(
    archive_rig: ArchiveRig,
    aggregator: Aggregator,
    log_lines: LogLines,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a 12 MiB video whose host hangs up after 10 MiB, once the multipart upload is open
    open_before_cut: list[Any] = []

    def wait_for_the_upload() -> None:
        for _ in range(100):  # at most 5 s
            open_before_cut[:] = archive_rig.open_uploads()
            if open_before_cut:
                return
            time.sleep(0.05)

    completed_with_file(
        aggregator, data=padded_mp4(BIG), cut_after=10 * 1024 * 1024, before_cut=wait_for_the_upload
    )
    message_id = archive_rig.send_job(json.dumps({"task_id": TASK}))

    (job,) = archive_rig.run_jobs(max_polls=1)

    # Then the message is reported failed and stays on the queue for SQS to retry
    assert job.failed == [message_id]
    assert archive_rig.queued() == (0, 1)
    # and the upload that was open when the connection broke is aborted: no object, nothing left open
    assert [upload["Key"] for upload in open_before_cut] == [archive_rig.key(TASK)]
    assert archive_rig.open_uploads() == []
    assert archive_rig.stored(TASK) is None
    line = log_lines.last("request done")
    assert (line["outcome"], line["error_type"], line["archive"]) == (
        "archive_download_failed",
        "ArchiveDownloadError",
        "failed",
    )
    failures = [blob for blob in emf_blobs(capsys.readouterr().out) if "ArchiveFailures" in blob]
    assert [blob["Cause"] for blob in failures] == ["archive_download_failed"]


def test_a_second_job_for_the_same_task_downloads_nothing(
    archive_rig: ArchiveRig, aggregator: Aggregator, log_lines: LogLines
) -> None:
    completed_with_file(aggregator, data=padded_mp4(BIG))
    archive_rig.send_job(json.dumps({"task_id": TASK}))
    archive_rig.run_jobs()
    assert len(aggregator.file_requests(TASK)) == 1
    asked = len(aggregator.requests_for(TASK))
    uploads = archive_rig.s3_calls.count("CreateMultipartUpload")

    # When a duplicate arrives (normal on a standard queue)
    archive_rig.send_job(json.dumps({"task_id": TASK}))
    (job,) = archive_rig.run_jobs()

    # Then it succeeds on the copy there: no download, no aggregator call, no upload
    assert job.failed == []
    assert len(aggregator.file_requests(TASK)) == 1
    assert len(aggregator.requests_for(TASK)) == asked
    assert archive_rig.s3_calls.count("CreateMultipartUpload") == uploads
    line = log_lines.last("request done")
    assert (line["outcome"], line["archive"]) == ("archived", "present")


def test_a_link_that_breaks_the_url_rules_is_never_fetched(
    archive_rig: ArchiveRig, aggregator: Aggregator, log_lines: LogLines
) -> None:
    # Given a good task (whose file the simulator sees fetched) and one whose link carries credentials
    completed_with_file(aggregator, task_id="good")
    archive_rig.send_job(json.dumps({"task_id": "good"}))
    archive_rig.run_jobs()
    assert len(aggregator.file_requests("good")) == 1
    aggregator.serve_file("bad", VIDEO)
    bad_link = aggregator.file_link("bad").replace("http://", "http://user:secret@")
    aggregator.tasks["bad"] = FakeTask(state="completed", url=bad_link)

    message_id = archive_rig.send_job(json.dumps({"task_id": "bad"}))
    (job,) = archive_rig.run_jobs(max_polls=1)

    assert job.failed == [message_id]
    assert aggregator.file_requests("bad") == []
    assert log_lines.last("request done")["error_type"] == "UpstreamError"
    assert archive_rig.stored("bad") is None


def test_the_video_host_redirect_is_not_followed(archive_rig: ArchiveRig, aggregator: Aggregator) -> None:
    completed_with_file(aggregator)
    aggregator.serve_file("elsewhere", VIDEO)
    aggregator.files[TASK].reply = Reply(302, b"", {"Location": aggregator.file_link("elsewhere")})

    message_id = archive_rig.send_job(json.dumps({"task_id": TASK}))
    (job,) = archive_rig.run_jobs(max_polls=1)

    assert job.failed == [message_id]
    assert len(aggregator.file_requests(TASK)) == 1
    assert aggregator.file_requests("elsewhere") == []
    assert archive_rig.stored(TASK) is None


def test_a_video_over_the_cap_is_refused_before_its_body(
    archive_rig: ArchiveRig, aggregator: Aggregator, log_lines: LogLines
) -> None:
    completed_with_file(aggregator)
    handle = archive_rig.build(ARCHIVE_MAX_BYTES=str(len(VIDEO) - 1)).handle

    message_id = archive_rig.send_job(json.dumps({"task_id": TASK}))
    (job,) = archive_rig.run_jobs(handle, max_polls=1)

    assert job.failed == [message_id]
    assert log_lines.last("request done")["error_type"] == "VideoTooLargeError"
    assert archive_rig.stored(TASK) is None
    assert not {"PutObject", "CreateMultipartUpload"} & set(archive_rig.s3_calls)


def test_one_bad_message_fails_alone(archive_rig: ArchiveRig, aggregator: Aggregator) -> None:
    completed_with_file(aggregator)
    bad = archive_rig.send_job("not json")
    good = archive_rig.send_job(json.dumps({"task_id": TASK}))

    results = archive_rig.run_jobs(max_polls=2)

    failed = [message for result in results for message in result.failed]
    received = [message for result in results for message in result.received]
    assert sorted(received) == sorted([bad, good])
    assert failed == [bad]
    assert archive_rig.stored(TASK) == VIDEO


def test_a_failed_enqueue_never_fails_the_request(
    archive_rig: ArchiveRig,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file_path = completed_with_file(aggregator)
    missing_queue = archive_rig.queue_url.rsplit("/", 1)[0] + "/no-such-queue"
    handle = archive_rig.build(ARCHIVE_QUEUE_URL=missing_queue).handle

    response = get(handle, event)

    assert (response["statusCode"], path_of(response)) == (302, file_path)
    line = log_lines.last("request done")
    assert (line["outcome"], line["archive_enqueue"]) == ("redirect", "failed")
    assert line["detail"].startswith("archive job not sent: SQS error")
    failures = [blob for blob in emf_blobs(capsys.readouterr().out) if "ArchiveFailures" in blob]
    assert [blob["Cause"] for blob in failures] == ["enqueue"]


def test_an_archive_lookup_failure_falls_back_to_the_aggregator(
    archive_rig: ArchiveRig,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given S3 unreachable (its endpoint a closed port) and a task the aggregator resolves
    file_path = completed_with_file(aggregator)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    handle = archive_rig.build(archive_rig.function.archive_clients(archive_rig.env)).handle

    response = get(handle, event)

    assert (response["statusCode"], path_of(response)) == (302, file_path)
    line = log_lines.last("request done")
    assert line["archive"] == "unavailable"
    assert line["detail"].startswith("archive lookup failed")


def test_credentials_expiring_first_cap_the_link_and_cache_control(
    archive_rig: ArchiveRig, event: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive_rig.s3.put_object(Bucket=archive_rig.bucket, Key=archive_rig.key(TASK), Body=VIDEO)
    # Given signing credentials that the SDK knows expire in 20 minutes (ARCHIVE_LINK_SECONDS: 3600)
    expiry = datetime.now(UTC) + timedelta(minutes=20)
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", expiry.strftime("%Y-%m-%dT%H:%M:%SZ"))
    expiring = archive_rig.function.archive_clients(archive_rig.env)
    monkeypatch.delenv("AWS_CREDENTIAL_EXPIRATION")
    unbounded = archive_rig.function.archive_clients(archive_rig.env)

    capped = get(archive_rig.build(expiring).handle, event)
    plain = get(archive_rig.build(unbounded).handle, event)

    def expires(response: Any) -> int:
        return int(parse_qs(urlsplit(response["headers"]["Location"]).query)["X-Amz-Expires"][0])

    def max_age(response: Any) -> int:
        return int(response["headers"]["Cache-Control"].removeprefix("private, max-age="))

    assert expires(plain) == 3600
    assert 20 * 60 - 10 <= expires(capped) <= 20 * 60
    assert 15 * 60 - 10 <= max_age(capped) <= 15 * 60  # less the 5 minute margin
    assert max_age(plain) > 50 * 60
    assert fetch(capped["headers"]["Location"])[1] == VIDEO


def test_direct_invoke_archives_now_then_finds_the_copy(
    archive_rig: ArchiveRig, aggregator: Aggregator, log_lines: LogLines
) -> None:
    completed_with_file(aggregator)

    first = archive_rig.handle({"task_id": TASK, "archive": True}, LocalLambdaContext())
    second = archive_rig.handle({"task_id": TASK, "archive": True}, LocalLambdaContext())

    uri = f"s3://{archive_rig.bucket}/{archive_rig.key(TASK)}"
    for document in (first, second):
        assert set(document) == {"task_id", "url", "expires_at", "source", "s3_uri", "size"}
        assert (document["source"], document["s3_uri"], document["size"]) == ("archive", uri, len(VIDEO))
        assert fetch(document["url"])[1] == VIDEO
    assert len(aggregator.file_requests(TASK)) == 1
    line = log_lines.last("request done")
    assert (line["front_door"], line["outcome"], line["archive"]) == ("direct", "data", "present")


def test_a_plain_direct_invoke_says_where_its_link_came_from(
    archive_rig: ArchiveRig, aggregator: Aggregator
) -> None:
    file_path = completed_with_file(aggregator)

    document = archive_rig.handle({"task_id": TASK}, LocalLambdaContext())

    assert urlsplit(document["url"]).path == file_path
    assert document["source"] == "aggregator"
    assert set(document) == {"task_id", "url", "expires_at", "source"}


def test_the_download_itself_checks_the_url_rules(function: Any, aggregator: Aggregator) -> None:
    """``open_video`` refuses what breaks the rules before sending anything, whoever calls it."""
    aggregator.serve_file(TASK, VIDEO)
    good = aggregator.file_link(TASK)

    def download(url: str, *, allow_loopback: bool = True) -> bytes:
        stream = open_video(
            function.pool,
            url,
            deadline=Deadline(10),
            timeouts=Timeouts(2, 5),
            max_bytes=len(VIDEO),
            allowed_hosts=("*.r2.cloudflarestorage.com",),
            allow_loopback=allow_loopback,
        )
        try:
            return stream.read(len(VIDEO) + 1)
        finally:
            stream.close()

    assert download(good) == VIDEO
    assert len(aggregator.file_requests(TASK)) == 1
    for bad, allow_loopback in [
        (good, False),  # plain http to loopback, when the aggregator itself is not local
        (good.replace("http://", "http://user:pw@"), True),
        (good.replace("?", " ?"), True),
        (good.replace("http://", "ftp://"), True),
        (good.replace("//127.0.0.1:", "//localhost.:"), True),  # a trailing dot (issue 16 defect 3)
    ]:
        with pytest.raises(UpstreamError):
            download(bad, allow_loopback=allow_loopback)
    assert len(aggregator.file_requests(TASK)) == 1


def test_a_job_that_keeps_failing_ends_in_the_dead_letter_queue(
    archive_rig: ArchiveRig, aggregator: Aggregator, embedded_aws: Any
) -> None:
    # Given a queue that hands a failed job out again at once, and moves it aside after 3 receives
    queue_url = embedded_aws.create_queue(f"{archive_rig.bucket}-retry", max_receives=3, visibility_timeout=0)
    completed_with_file(aggregator)
    aggregator.files[TASK].reply = Reply(403, b"<Error><Code>AccessDenied</Code></Error>")
    sqs = archive_rig.sqs
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"task_id": TASK}))

    failed = []
    for _ in range(5):  # bounded: three receives, then the queue is empty
        result = poll_once(sqs, queue_url, archive_rig.handle, timeout_seconds=60)
        if not result.received:
            break
        failed += result.failed
    dead = sqs.receive_message(QueueUrl=f"{queue_url}-dlq", MaxNumberOfMessages=10).get("Messages", [])

    assert len(failed) == 3
    assert [json.loads(m["Body"]) for m in dead] == [{"task_id": TASK}]
    assert archive_rig.stored(TASK) is None


def test_a_download_that_outlasts_the_invocation_ends_at_its_deadline(
    archive_rig: ArchiveRig, aggregator: Aggregator, log_lines: LogLines
) -> None:
    # Given an invocation with 1.5 s to spend (6.5 s less the worker's 5 s reserve), a 5 s read
    # timeout, and a video host that stalls for 3 s once the upload is open
    def stall() -> None:
        time.sleep(3)

    completed_with_file(aggregator, data=padded_mp4(BIG), cut_after=10 * 1024 * 1024, before_cut=stall)
    handle = archive_rig.build(UPSTREAM_READ_TIMEOUT="5").handle
    message_id = archive_rig.send_job(json.dumps({"task_id": TASK}))

    started = time.monotonic()
    job = poll_once(archive_rig.sqs, archive_rig.queue_url, handle, timeout_seconds=6.5)
    elapsed = time.monotonic() - started

    assert job.failed == [message_id]
    assert elapsed < 3  # cut at the deadline, not at the stall's end nor the read timeout
    assert log_lines.last("request done")["error_type"] == "UpstreamTimeoutError"
    assert archive_rig.open_uploads() == []
    assert archive_rig.stored(TASK) is None


def test_archive_off_behaves_as_without_an_archive(
    function: Any, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    """The session's function has no ARCHIVE_BUCKET: no S3 or SQS client, today's answers."""
    file_path = completed_with_file(aggregator)

    document = json.loads(get(function.lambda_handler, event, "http_api_get_json.json")["body"])
    line = log_lines.last("request done")

    assert function.archive_aws is None
    assert document["source"] == "aggregator"
    assert urlsplit(document["url"]).path == file_path
    assert not {"archive", "archive_ms", "archive_enqueue"} & set(line)
    with pytest.raises(ArchiveDisabledError):
        function.lambda_handler({"task_id": TASK, "archive": True}, LocalLambdaContext())
    event_with_a_job = sqs_event(
        [{"MessageId": "m-1", "ReceiptHandle": "r", "Body": json.dumps({"task_id": TASK})}],
        "arn:aws:sqs:us-east-1:123456789012:jobs",
    )
    answer = function.lambda_handler(event_with_a_job, LocalLambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert log_lines.last("request done")["outcome"] == "archive_disabled"
    assert aggregator.file_requests(TASK) == []


def test_a_hanging_s3_costs_the_request_a_slice_of_its_time_not_all_of_it(
    archive_rig: ArchiveRig, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    # Given S3 that accepts the HeadObject and never answers (the SDK would wait 5 s an attempt)
    s3 = HostileServer(Script({}, otherwise=HANG)).start()
    try:
        completed_with_file(aggregator)
        hanging = archive_rig.function.ArchiveClients(
            boto3.client(
                "s3",
                region_name="us-east-1",
                endpoint_url=s3.base_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=archive_rig.function.ARCHIVE_S3_CONFIG,
            ),
            archive_rig.function.archive_clients(archive_rig.env).sqs,
            None,
        )
        handle = archive_rig.build(clients=hanging).handle
        started = time.monotonic()
        response = handle(event("http_api_get.json"), LocalLambdaContext(timeout_seconds=4))
        elapsed = time.monotonic() - started
    finally:
        s3.abort()
        s3.stop()

    # Then the aggregator answers in time, and the line says the archive could not be asked
    assert s3.calls() >= 1  # the lookup was sent
    assert response["statusCode"] == 302
    assert elapsed < 2.5  # a third of the 3 s budget for S3 at most, then the aggregator
    line = log_lines.last("request done")
    assert (line["source"], line["archive"]) == ("aggregator", "unavailable")
    assert "did not answer" in line["detail"]
