"""``make run``'s archive demo end to end: resolve, the poller archives, rotate, the link keeps playing.

Its own ``python -m local.run`` (the shared demo process must keep its simulator unrotated), with
ARCHIVE_RECHECK_SECONDS=0 so the next request after the copy asks the archive.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import LocalRunProcess, clean_env, request

REPO = Path(__file__).resolve().parents[2]
DEMO_MP4 = REPO / "local" / "assets" / "demo.mp4"
ROTATE = re.compile(r"curl -X POST (?P<url>http://127\.0\.0\.1:\d+/simulator/rotate-accounts)")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def archive_run() -> Iterator[LocalRunProcess]:
    run = LocalRunProcess(clean_env(ARCHIVE_RECHECK_SECONDS="0"))
    try:
        yield run.wait_ready()
    finally:
        run.kill()


def document(url: str) -> dict[str, str]:
    answer = request(f"{url}?format=json")
    assert answer.status == 200, answer
    return dict(json.loads(answer.body))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wait_for_the_copy(run: LocalRunProcess, task_url: str) -> None:
    """Until ``task_url`` answers from the archive (the poller has copied it): at most ~20 s."""
    for _ in range(80):
        if document(task_url)["source"] == "archive":
            return
        time.sleep(0.25)
    raise AssertionError(f"never archived:\n{run.stderr[-3000:]}")


def test_a_permanent_link_survives_the_aggregator_s_rotation(archive_run: LocalRunProcess) -> None:
    completed = archive_run.task_urls["completed"]
    rotate = ROTATE.search(archive_run.stdout)
    assert rotate, archive_run.stdout
    assert "Archive on: copies go to s3://" in archive_run.stdout

    # The first answer is the aggregator's link (the simulator serves the file itself)
    first = document(completed)
    assert (first["source"], urlsplit(first["url"]).path.startswith("/files/")) == ("aggregator", True)

    # The poller hands the job to the function; soon the same URL answers with the copy
    wait_for_the_copy(archive_run, completed)
    assert any(
        '"front_door":"sqs"' in line and '"archive":"copied"' in line for line in archive_run.stderr_lines
    )

    # The simulator rotates its accounts: the old link is dead, the other tasks are gone
    assert request(rotate["url"], method="POST").status == 200
    assert request(first["url"]).status == 403
    assert request(archive_run.task_urls["processing"]).status == 404

    # The local API still redirects to the same bytes
    answer = request(completed)
    assert answer.status == 302
    location = answer.header("Location") or ""
    video = request(location)
    assert (video.status, sha256(video.body)) == (200, sha256(DEMO_MP4.read_bytes()))
    assert request(location, headers={"Range": "bytes=4-7"}).body == b"ftyp"


@pytest.fixture(scope="module")
def edge_run() -> Iterator[LocalRunProcess]:
    run = LocalRunProcess(clean_env(ARCHIVE_RECHECK_SECONDS="0", ARCHIVE_DELIVERY="CloudFront"))
    try:
        yield run.wait_ready()
    finally:
        run.kill()


def test_with_cloudfront_delivery_the_copy_plays_by_a_signed_link(edge_run: LocalRunProcess) -> None:
    """``ARCHIVE_DELIVERY=CloudFront make run``: once archived, the task answers a CloudFront-signed link
    to the edge stand-in, which plays the copy's exact bytes (and ranges) and refuses the link altered."""
    edge = re.search(r"Edge delivery: CloudFront stand-in (?P<url>http://127\.0\.0\.1:\d+)", edge_run.stdout)
    assert edge, edge_run.stdout
    completed = edge_run.task_urls["completed"]
    assert document(completed)["source"] == "aggregator"
    wait_for_the_copy(edge_run, completed)

    answer = request(completed)
    assert answer.status == 302
    location = answer.header("Location") or ""
    assert location.startswith(f"{edge['url']}/luma/"), location
    query = urlsplit(location).query
    assert all(f"{name}=" in query for name in ("Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"))
    assert "Hash-Algorithm=SHA256" in query
    video = request(location)
    assert (video.status, sha256(video.body)) == (200, sha256(DEMO_MP4.read_bytes()))
    assert request(location, headers={"Range": "bytes=4-7"}).body == b"ftyp"
    # The stand-in checks what CloudFront checks: the same link for another object is refused
    assert request(location.replace(".mp4?", ".mp4x?")).status == 403
    # The key's PEM never reaches the log
    assert "PRIVATE KEY" not in edge_run.stderr
    assert "PRIVATE KEY" not in edge_run.stdout


def test_an_unknown_delivery_is_refused_at_start() -> None:
    run = LocalRunProcess(clean_env(ARCHIVE_DELIVERY="Akamai"))
    try:
        assert run.proc.wait(timeout=60) == 2
        assert run.signal() == 2  # it has ended: this only waits for its output to be read
    finally:
        run.kill()
    assert "ARCHIVE_DELIVERY must be S3 or CloudFront, got 'Akamai'" in run.stderr
