"""The leak watch sees a leak wherever one can be: it is shown each kind before any suite relies on it."""

from __future__ import annotations

import collections
import json
import logging
from types import ModuleType

import pytest

from tests.conftest import (
    CANARY_TOKEN,
    SERVICE,
    canary_key_pair,
    new_leak_watch,
    pem_body_lines,
    watching_function_output,
)
from tests.integration.conftest import SIGNATURE, presigned_r2_url

LINK = presigned_r2_url("task-1")


def test_a_canary_in_the_functions_log_or_stdout_is_seen(
    handler_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the watch on the function's logger (Powertools' JSON handler in place) and on stdout
    watch = new_leak_watch()
    with watching_function_output(watch, capsys):
        # When the function's logger writes the token, and something prints a signed URL
        handler_module.logger.warning("upstream said %s", CANARY_TOKEN)
        logging.getLogger(SERVICE).info("fine line")
        print(json.dumps({"_aws": {}, "url": LINK}))

    # Then both are found, each where it happened (the URL's signature and credential), the clean line not
    assert [finding.split(":")[0] for finding in watch.findings] == [
        f"{CANARY_TOKEN[:16]}... in log line 'upstream said %s'",
        "a signature in stdout",
        "a signature in stdout",
    ]
    assert watch.records == 3
    with pytest.raises(AssertionError, match="leaked"):
        watch.assert_clean()


def test_a_signature_belongs_only_in_the_link_a_success_delivers() -> None:
    watch = new_leak_watch()

    watch.response("302", 302, {"Location": LINK, "Cache-Control": "private, max-age=3300"}, "")
    watch.response("200", 200, [("Content-Type", "application/json")], json.dumps({"url": LINK}))
    watch.document("direct", {"task_id": "task-1", "url": LINK, "expires_at": None})
    watch.document("batch", {"count": 1, "results": [{"task_id": "task-1", "url": LINK}]})
    assert watch.findings == []

    failed = {"task_id": "task-2", "error": {"code": "bad_upstream", "message": LINK}}
    watch.document("batch entry", {"count": 2, "results": [{"task_id": "task-1", "url": LINK}, failed]})

    watch.response("error body", 502, {"Cache-Control": "no-store"}, json.dumps({"error": {"message": LINK}}))
    watch.response("another header", 302, {"Location": LINK, "X-Debug": LINK}, "")
    watch.text("a log line", f"video_url={LINK}")
    watch.text("a half-redacted log line", LINK.replace(SIGNATURE, "REDACTED"))
    # Each is found: the URL's signature and its credential, or the credential alone
    assert collections.Counter(finding.split(":")[0] for finding in watch.findings) == {
        "a signature in batch entry": 2,
        "a signature in error body response": 2,
        "a signature in another header response": 2,
        "a signature in a log line": 2,
        "a signature in a half-redacted log line": 1,
    }


def test_a_canary_is_seen_in_any_answer_header_body_or_exception() -> None:
    watch = new_leak_watch()

    watch.response("header", 400, {"X-Token": CANARY_TOKEN}, "{}")
    watch.response("location", 302, {"Location": f"https://x.example/?t={CANARY_TOKEN}"}, "")
    watch.response("bytes body", 410, [], f'{{"message": "{CANARY_TOKEN}"}}'.encode())
    watch.document("document", {"url": f"https://x.example/{CANARY_TOKEN}"})
    watch.exception("raised", RuntimeError("bad key", CANARY_TOKEN))

    assert len(watch.findings) == 5, watch.findings
    assert "in raised (RuntimeError)" in watch.findings[-1]


@pytest.mark.parametrize("kind", ["ECDSA", "RSA"])
def test_any_line_of_a_private_key_canary_is_seen_but_not_the_pem_s_frame(kind: str) -> None:
    # Given the watch, and the canary key of this kind (the one the CDN suites store as the signing key)
    pem = canary_key_pair(kind).private_pem  # type: ignore[arg-type]
    lines = pem_body_lines(pem)
    assert len(lines) >= 2  # every full base64 line of the key: a leak of any part of it is seen
    watch = new_leak_watch()

    # When one line of the key shows in a log line, an error body, a redirect, or an exception
    watch.text("a log line", f"key={lines[-1]}")
    watch.response("error body", 500, {}, json.dumps({"error": {"message": lines[0]}}))
    watch.response("location", 302, {"Location": f"https://x.example/?k={lines[1]}"}, "")
    watch.exception("raised", ValueError(pem))
    # but not the PEM's frame, which a configuration error names as the form it expected
    watch.text("a configuration error", "not a PEM private key (-----BEGIN PRIVATE KEY-----)")

    places = [finding.split(" in ")[1].split(":")[0] for finding in watch.findings]
    assert list(dict.fromkeys(places)) == [
        "a log line",
        "error body response",
        "location response",
        "raised (ValueError)",
    ]


def test_a_key_a_test_makes_is_watched_once_added() -> None:
    from local.edge import demo_key_pair  # noqa: PLC0415

    pem = demo_key_pair("ECDSA", "KOTHER").private_pem
    watch = new_leak_watch()
    watch.text("before", pem)
    watch.private_key(pem)
    watch.text("after", pem)

    assert [finding.split(" in ")[1].split(":")[0] for finding in watch.findings] == ["after"] * len(
        pem_body_lines(pem)
    )


def test_a_watch_that_saw_nothing_fails() -> None:
    with pytest.raises(AssertionError, match="saw nothing"):
        new_leak_watch().assert_clean()
