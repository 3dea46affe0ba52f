"""Issue 16 defect 3: a link whose host ends with a dot (``x.r2.cloudflarestorage.com.``) is refused.

The rule (README, beside ``ALLOWED_REDIRECT_HOSTS``): the fully qualified spelling of an allowed host
is not that host; the redirect answers 502 ``bad_upstream`` without a ``Location``, and the archive
neither downloads from it nor stores anything. Real parts: the loopback aggregator simulator (its
own file links, as a reseller's storage), moto's S3 and SQS, the SQS event source mapping played by
``local.sqs_poller``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

from local.aggregator import Aggregator, FakeTask
from local.demo_video import DEMO_MP4
from local.lambda_context import LocalLambdaContext
from luma_download.errors import UpstreamError
from tests.conftest import EVENT_TASK_ID, LogLines
from tests.integration.conftest import ArchiveRig, completed, presigned_r2_url

R2_HOST = "dc53a917a6f427706a8ca3ecc7d70ea4.r2.cloudflarestorage.com"
REASON = "host ends with a dot"
VIDEO = DEMO_MP4.read_bytes()


def fully_qualified(url: str) -> str:
    """``url`` with its host written with DNS's root dot (``localhost`` as ``localhost.``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return url.replace(f"//{host}", f"//{host}.", 1)


@pytest.mark.parametrize("name", ["http_api_get.json", "rest_api_get.json", "function_url_get.json"])
def test_the_redirect_to_a_fully_qualified_host_is_a_502_and_no_302(
    function: ModuleType,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    name: str,
) -> None:
    # Given a completed task whose link names the allowed R2 host with a trailing dot
    link = fully_qualified(presigned_r2_url(EVENT_TASK_ID))
    assert f"//{R2_HOST}./" in link
    completed(aggregator, EVENT_TASK_ID, link)

    response = function.lambda_handler(event(name), LocalLambdaContext())

    # Then the caller gets the bad_upstream error, saying why, and nothing to follow
    assert response["statusCode"] == 502
    error = json.loads(response["body"])["error"]
    assert error["code"] == "bad_upstream"
    assert REASON in error["message"]
    headers = {**(response.get("headers") or {}), **(response.get("multiValueHeaders") or {})}
    assert "Location" not in headers
    assert R2_HOST not in response["body"]
    assert log_lines.last("request done")["error_type"] == "UpstreamError"


def serve_fully_qualified(aggregator: Aggregator) -> None:
    """The task is completed, its link the simulator's own file link but for the dot."""
    aggregator.serve_file(EVENT_TASK_ID, VIDEO)
    link = fully_qualified(aggregator.file_link(EVENT_TASK_ID).replace("//127.0.0.1:", "//localhost:"))
    aggregator.tasks[EVENT_TASK_ID] = FakeTask(state="completed", url=link)


def test_the_archive_worker_neither_downloads_from_it_nor_stores_anything(
    archive_rig: ArchiveRig, aggregator: Aggregator, log_lines: LogLines
) -> None:
    serve_fully_qualified(aggregator)

    message_id = archive_rig.send_job(json.dumps({"task_id": EVENT_TASK_ID}))
    (job,) = archive_rig.run_jobs(max_polls=1)

    assert job.failed == [message_id]
    assert aggregator.file_requests(EVENT_TASK_ID) == []
    assert log_lines.last("request done")["error_type"] == "UpstreamError"
    assert archive_rig.stored(EVENT_TASK_ID) is None
    assert archive_rig.open_uploads() == []


def test_archiving_now_refuses_it_for_that_reason(archive_rig: ArchiveRig, aggregator: Aggregator) -> None:
    serve_fully_qualified(aggregator)

    with pytest.raises(UpstreamError, match=REASON):
        archive_rig.handle({"task_id": EVENT_TASK_ID, "archive": True}, LocalLambdaContext())

    assert aggregator.file_requests(EVENT_TASK_ID) == []
    assert archive_rig.stored(EVENT_TASK_ID) is None
