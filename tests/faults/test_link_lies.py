"""An aggregator that lies in its links: nothing it says reaches ``Location`` unchecked.

Wrong types, other hosts, credentials, control characters, look-alikes, encoded hosts, the token
itself, and lifetimes of decades. Each row: the link the aggregator hands out (over a real loopback
socket) and what the caller must get.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from local.hostile import Answer
from tests.conftest import LogLines
from tests.faults.conftest import (
    DOWNLOAD_PATH,
    GOOD_URL,
    TASK,
    TASK_PATH,
    TOKEN,
    Rig,
    check,
    json_reply,
    link_reply,
)
from tests.integration.conftest import presigned_r2_url

pytestmark = pytest.mark.timeout(30)

R2 = "https://dc53a917a6f427706a8ca3ecc7d70ea4.r2.cloudflarestorage.com"
SEVEN_DAYS = 7 * 24 * 3600

LIES = [
    # wrong type
    pytest.param(42, id="number"),
    pytest.param([GOOD_URL], id="list"),
    pytest.param({"href": GOOD_URL}, id="object"),
    pytest.param(True, id="boolean"),
    pytest.param("", id="empty"),
    # wrong scheme
    pytest.param(GOOD_URL.replace("https://", "http://"), id="plain-http"),
    pytest.param(GOOD_URL.replace("https://", "ftp://"), id="ftp"),
    pytest.param("javascript:alert(document.cookie)", id="javascript"),
    pytest.param("data:video/mp4;base64,AAAAIGZ0eXBpc29t", id="data"),
    pytest.param(GOOD_URL.removeprefix("https:"), id="scheme-relative"),
    pytest.param(GOOD_URL.removeprefix("https://"), id="no-scheme"),
    # other hosts and look-alikes
    pytest.param("https://evil.example/video.mp4", id="other-host"),
    pytest.param("https://r2.cloudflarestorage.com/video.mp4", id="bare-allowed-domain"),
    pytest.param(f"{R2}.evil.example/video.mp4", id="allowed-host-as-prefix"),
    pytest.param("https://evilr2.cloudflarestorage.com/video.mp4", id="suffix-without-dot"),
    pytest.param("https://x.r2.cloudflarest\u043erage.com/video.mp4", id="homoglyph-host"),
    pytest.param("https://x.r2.xn--cloudflarestrage-7fc.com/video.mp4", id="punycode-look-alike"),
    pytest.param("https://169.254.169.254/latest/meta-data/", id="metadata-address"),
    pytest.param("https://[::ffff:a9fe:a9fe]/video.mp4", id="ipv6-literal"),
    pytest.param(f"https://evil.example#@{R2.removeprefix('https://')}/v.mp4", id="fragment-trick"),
    pytest.param(f"https://evil.example\\@{R2.removeprefix('https://')}/v.mp4", id="backslash-trick"),
    # credentials
    pytest.param(GOOD_URL.replace("https://", "https://user:secret@"), id="credentials"),
    pytest.param(GOOD_URL.replace("https://", "https://:@"), id="empty-credentials"),
    pytest.param(f"{R2}@evil.example/video.mp4", id="allowed-host-as-userinfo"),
    # control characters, whitespace, non-ASCII
    pytest.param(f"{GOOD_URL}\r\nSet-Cookie: session=stolen", id="crlf-header-injection"),
    pytest.param(f"{R2}/a\x00b.mp4", id="nul"),
    pytest.param(f"{R2}/a\tb.mp4", id="tab"),
    pytest.param(f"{R2}/a b.mp4", id="space"),
    pytest.param(f"{R2}/a\x7fb.mp4", id="del"),
    pytest.param(f"{R2}/vid\u00e9o.mp4", id="non-ascii-path"),
    pytest.param(f"{GOOD_URL}&pad={'x' * 5000}", id="too-long"),
    # encoded or odd characters in the host
    pytest.param(f"https://evil.example%2f.{R2.removeprefix('https://')}/v.mp4", id="host-%2f"),
    pytest.param(f"https://evil.example%40{R2.removeprefix('https://')}/v.mp4", id="host-%40"),
    pytest.param(f"https://evil%2eexample.{R2.removeprefix('https://')}/v.mp4", id="host-%2e"),
    pytest.param("https://evil_host.r2.cloudflarestorage.com/v.mp4", id="host-underscore"),
]


def test_a_true_link_is_passed_on(rig: Rig) -> None:
    # The control row: the same script with an honest link redirects, so the refusals below are the link's.
    server = rig.hostile({DOWNLOAD_PATH: [link_reply(GOOD_URL)]})

    outcome = rig.invoke(rig.handler(server.base_url), budget=3)

    check(outcome, 302, None, server.calls(), 1)
    assert outcome.headers["Location"] == GOOD_URL


@pytest.mark.parametrize("url", LIES)
def test_a_lying_link_is_bad_upstream(rig: Rig, url: object) -> None:
    server = rig.hostile({DOWNLOAD_PATH: [link_reply(url)]})

    outcome = rig.invoke(rig.handler(server.base_url), budget=3)

    check(outcome, 502, "bad_upstream", server.calls(), 1)
    assert "Location" not in outcome.headers


def test_a_lying_link_in_the_task_document_is_bad_upstream(rig: Rig) -> None:
    # Given a reseller answering 400 (not completed), then a task whose link points elsewhere
    task = {"id": TASK, "state": "completed", "video": {"download_url": "https://evil.example/v.mp4"}}
    server = rig.hostile(
        {DOWNLOAD_PATH: [json_reply(400, {"detail": "not completed"})], TASK_PATH: [json_reply(200, task)]}
    )

    outcome = rig.invoke(rig.handler(server.base_url), budget=3)

    check(outcome, 502, "bad_upstream", server.calls(), 2)


TOKEN_LEAKS = [
    (f"{R2}/{TOKEN}/video.mp4", "path"),
    (f"https://{TOKEN}.r2.cloudflarestorage.com/video.mp4", "host"),
    (f"{GOOD_URL}&token={TOKEN}", "query"),
    (f"{GOOD_URL}#{TOKEN}", "fragment"),
]
FRONT_DOORS = [
    ("http_api_get.json", "redirect"),
    ("http_api_get_json.json", "json"),
    ("direct_invoke.json", "direct"),
]


@pytest.mark.parametrize(
    ("url", "event"),
    [
        pytest.param(url, event, id=f"{where}-{door}")
        for url, where in TOKEN_LEAKS
        for event, door in FRONT_DOORS
    ],
)
def test_a_link_holding_the_token_is_refused(rig: Rig, log_lines: LogLines, url: str, event: str) -> None:
    server = rig.hostile({DOWNLOAD_PATH: [link_reply(url)]})

    outcome = rig.invoke(rig.handler(server.base_url), budget=3, event=event)

    check(outcome, 502, "bad_upstream", server.calls(), 1)
    # The token went upstream as the bearer (so the link really holds a token this container used) ...
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    # ... and shows nowhere: not in what the caller got, not in the log, which did record this request.
    assert TOKEN not in outcome.text
    assert TASK in log_lines.text
    assert TOKEN not in log_lines.text


@pytest.mark.parametrize(
    ("script", "status", "code", "calls"),
    [
        pytest.param(
            {
                DOWNLOAD_PATH: [json_reply(400, {"detail": "not completed"})],
                TASK_PATH: [json_reply(200, {"state": "failed", "failure_reason": f"key {TOKEN} is banned"})],
            },
            410,
            "task_failed",
            2,
            id="failure-reason",
        ),
        pytest.param(
            {DOWNLOAD_PATH: [json_reply(404, {"detail": f"no task for {TOKEN}"})]},
            404,
            "task_not_found",
            1,
            id="error-detail",
        ),
    ],
)
def test_upstream_text_echoing_the_token_is_masked(
    rig: Rig, log_lines: LogLines, script: Mapping[str, Sequence[Answer]], status: int, code: str, calls: int
) -> None:
    server = rig.hostile(script)

    outcome = rig.invoke(rig.handler(server.base_url), budget=3)

    check(outcome, status, code, server.calls(), calls)
    assert TASK in log_lines.text
    assert TOKEN not in outcome.text
    assert TOKEN not in log_lines.text


def _signed(at: datetime, expires: int = 3600) -> str:
    return presigned_r2_url(TASK, signed_at=at, expires=expires)


NOW = datetime.now(UTC)
LIFETIMES = [
    pytest.param(_signed(NOW), False, id="one-hour"),
    pytest.param(_signed(NOW, SEVEN_DAYS), False, id="seven-days-sigv4-ceiling"),
    pytest.param(_signed(NOW, 99_999_999), False, id="x-amz-expires-beyond-sigv4"),
    pytest.param(_signed(datetime(2020, 1, 1, tzinfo=UTC)), False, id="long-expired"),
    pytest.param(_signed(datetime(2099, 1, 1, tzinfo=UTC)), True, id="signed-in-2099"),
    pytest.param(f"{R2}/v.mp4?Expires=4102444800&Signature=abc", True, id="expires-year-2100"),
    pytest.param(f"{R2}/v.mp4?Expires=99999999999&Signature=abc", True, id="expires-year-5138"),
]


@pytest.mark.parametrize(("event", "door"), FRONT_DOORS[:2], ids=["redirect", "json"])
@pytest.mark.parametrize(("url", "absurd"), LIFETIMES)
def test_link_lifetime_is_capped_at_seven_days(
    rig: Rig, request: pytest.FixtureRequest, url: str, absurd: bool, event: str, door: str
) -> None:
    server = rig.hostile({DOWNLOAD_PATH: [link_reply(url)]})

    outcome = rig.invoke(rig.handler(server.base_url), budget=3, event=event)

    check(outcome, 302 if door == "redirect" else 200, None, server.calls(), 1)
    max_age = outcome.max_age()
    assert max_age is not None or outcome.headers["Cache-Control"] == "no-store"
    assert max_age is None or 0 <= max_age <= SEVEN_DAYS
    if door == "json" and outcome.document["expires_at"] is not None:
        expires_at = datetime.strptime(outcome.document["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        )
        assert expires_at <= datetime.now(UTC) + timedelta(days=7, minutes=1)
