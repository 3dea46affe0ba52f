"""A hostile aggregator, byte by byte: every answer it can send maps to the error contract in time.

One row per fault: the aggregator's script, then the status and ``error.code`` the caller must get
(for direct invoke: the exception's name, read through the README table), how many requests the
aggregator must see, and the invocation's whole budget, which the answer must come inside.
"""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from local.hostile import HANG, Answer, Close, Drip, Pause, Reset, Send, chunked, http_bytes, reply
from tests.faults.conftest import (
    DOWNLOAD_PATH,
    DRIP_INTERVAL,
    GOOD_URL,
    SHORT_BUDGET,
    TASK_PATH,
    Rig,
    check,
    json_reply,
    link_reply,
)

pytestmark = pytest.mark.timeout(30)  # a backstop: the watchdog ends every case far sooner

JSON = ("Content-Type", "application/json")
CHUNKED = ("Transfer-Encoding", "chunked")
GOOD_BODY = f'{{"url": "{GOOD_URL}"}}'.encode()
GOOD_HEAD = http_bytes(200, b"", [JSON, ("Content-Length", str(len(GOOD_BODY)))])
# Deeper than Python's recursion limit, and still under the 64 KiB body cap.
NESTED_LIST = b"[" * 30_000 + b"]" * 30_000
NESTED_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


BOMB_MIB = 48  # decoded; under 64 KiB on the wire


def bomb(wbits: int, decoded_mib: int = BOMB_MIB) -> bytes:
    """Zeros compressed (``wbits`` 31: gzip, 15: deflate): ~1 KiB on the wire per MiB decoded."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(1 << 20)
    return b"".join(compressor.compress(zeros) for _ in range(decoded_mib)) + compressor.flush()


GZIP_BOMB = bomb(31)
DEFLATE_BOMB = bomb(15)


@dataclass(frozen=True)
class Case:
    script: Mapping[str, Sequence[Answer]]
    status: int
    code: str | None
    calls: int
    budget: float = 3.0
    event: str = "http_api_get.json"
    refuse: bool = False  # no server at all: a port where nothing accepts


def on_download(*answers: Answer, **fields: Any) -> Case:
    """A case whose aggregator answers the download path with ``answers`` (the last one repeating)."""
    return Case(script={DOWNLOAD_PATH: answers}, **fields)


def dripped(head: bytes, rest: bytes, interval: float = DRIP_INTERVAL) -> Answer:
    return (Send(head), Drip(rest, interval))


WHOLE_ANSWER = GOOD_HEAD + GOOD_BODY
STATUS_LINE_END = WHOLE_ANSWER.index(b"\r\n") + 2

CASES = [
    # -- time: hangs and drips ---------------------------------------------------------------------
    pytest.param(
        on_download(HANG, budget=SHORT_BUDGET, status=504, code="upstream_timeout", calls=1),
        id="hang-before-status",
    ),
    pytest.param(
        on_download(
            (Send(GOOD_HEAD), *HANG), budget=SHORT_BUDGET, status=504, code="upstream_timeout", calls=1
        ),
        id="hang-after-headers",
    ),
    pytest.param(
        on_download(
            dripped(b"", WHOLE_ANSWER, 1.0), budget=SHORT_BUDGET, status=504, code="upstream_timeout", calls=1
        ),
        id="drip-slower-than-read-timeout",
    ),
    pytest.param(
        on_download(
            dripped(b"", WHOLE_ANSWER), budget=SHORT_BUDGET, status=504, code="upstream_timeout", calls=1
        ),
        id="drip-status-line",
    ),
    pytest.param(
        on_download(
            dripped(WHOLE_ANSWER[:STATUS_LINE_END], WHOLE_ANSWER[STATUS_LINE_END:]),
            budget=SHORT_BUDGET,
            status=504,
            code="upstream_timeout",
            calls=1,
        ),
        id="drip-headers",
    ),
    pytest.param(
        on_download(
            dripped(GOOD_HEAD, GOOD_BODY), budget=SHORT_BUDGET, status=504, code="upstream_timeout", calls=1
        ),
        id="drip-content-length-body",
    ),
    # -- connections: refused, reset, closed, truncated ------------------------------------------
    pytest.param(Case({}, status=503, code="upstream_unavailable", calls=0, refuse=True), id="refused"),
    pytest.param(
        Case({}, status=503, code="upstream_unavailable", calls=0, refuse=True, event="direct_invoke.json"),
        id="refused-direct-invoke",
    ),
    pytest.param(
        on_download((Reset(),), budget=5, status=502, code="bad_upstream", calls=3), id="reset-before-status"
    ),
    pytest.param(
        on_download((Close(),), budget=5, status=502, code="bad_upstream", calls=3), id="closed-before-status"
    ),
    pytest.param(
        on_download((Send(GOOD_HEAD + GOOD_BODY[:20]), Reset()), status=502, code="bad_upstream", calls=1),
        id="reset-mid-body",
    ),
    pytest.param(
        on_download((Send(GOOD_HEAD + GOOD_BODY[:20]), Close()), status=502, code="bad_upstream", calls=1),
        id="truncated-content-length",
    ),
    pytest.param(
        on_download(
            (
                Send(
                    http_bytes(
                        200,
                        chunked(GOOD_BODY, 16, terminated=False),
                        [JSON, CHUNKED],
                    )
                ),
                Close(),
            ),
            status=502,
            code="bad_upstream",
            calls=1,
        ),
        id="truncated-chunked",
    ),
    # -- 5xx storms and 429s ------------------------------------------------------------------------
    pytest.param(
        on_download(reply(500), budget=5, status=502, code="bad_upstream", calls=3),
        id="5xx-storm-two-retries",
    ),
    pytest.param(
        on_download(reply(503, b"<html>busy</html>"), status=502, code="bad_upstream", calls=1),
        id="5xx-storm-no-time-to-retry",
    ),
    pytest.param(
        on_download(reply(503), reply(502), link_reply(GOOD_URL), budget=5, status=302, code=None, calls=3),
        id="5xx-then-success",
    ),
    pytest.param(
        on_download(
            json_reply(429, {"error": {"message": "slow down"}}, [("Retry-After", "1")]),
            link_reply(GOOD_URL),
            budget=5,
            status=302,
            code=None,
            calls=2,
        ),
        id="429-short-wait-is-waited-out",
    ),
    pytest.param(
        on_download(reply(429, b"", [("Retry-After", "120")]), status=429, code="rate_limited", calls=1),
        id="429-long-wait-passed-on",
    ),
    pytest.param(
        on_download(
            reply(429, b"", [("Retry-After", "Fri, 31 Dec 2099 23:59:59 GMT")]),
            status=429,
            code="rate_limited",
            calls=1,
        ),
        id="429-http-date",
    ),
    pytest.param(on_download(reply(429), status=429, code="rate_limited", calls=1), id="429-no-wait"),
    pytest.param(
        on_download(reply(429, b"", [("Retry-After", "soon")]), status=429, code="rate_limited", calls=1),
        id="429-wait-soon",
    ),
    pytest.param(
        on_download(reply(429, b"", [("Retry-After", "-5")]), status=429, code="rate_limited", calls=1),
        id="429-wait-negative",
    ),
    pytest.param(
        on_download(reply(429, b"", [("Retry-After", "1.5")]), status=429, code="rate_limited", calls=1),
        id="429-wait-fraction",
    ),
    # -- redirects --------------------------------------------------------------------------------
    pytest.param(
        on_download(
            reply(302, b"", [("Location", "https://evil.example/steal")]),
            status=502,
            code="bad_upstream",
            calls=1,
        ),
        id="redirect-elsewhere",
    ),
    pytest.param(
        on_download(
            reply(301, b"", [("Location", "/stolen-token")]), status=502, code="bad_upstream", calls=1
        ),
        id="redirect-same-host-not-followed",
    ),
    # -- garbage ------------------------------------------------------------------------------------
    pytest.param(
        on_download((Send(b"SSH-2.0-OpenSSH_9.6\r\n"), Close()), status=502, code="bad_upstream", calls=1),
        id="not-http",
    ),
    pytest.param(
        on_download(
            reply(200, b"<html>maintenance</html>", [("Content-Type", "text/html")]),
            status=502,
            code="bad_upstream",
            calls=1,
        ),
        id="html",
    ),
    pytest.param(
        on_download(reply(200, b'["a list"]'), status=502, code="bad_upstream", calls=1), id="json-list"
    ),
    pytest.param(
        on_download(reply(200, bytes(range(256)) * 4), status=502, code="bad_upstream", calls=1),
        id="binary-junk",
    ),
    pytest.param(
        on_download(
            reply(200, GOOD_BODY, [JSON, *[(f"X-Flood-{i}", "x") for i in range(150)]]),
            status=502,
            code="bad_upstream",
            calls=1,
        ),
        id="header-flood",
    ),
    pytest.param(
        on_download(
            reply(200, GOOD_BODY, [JSON, ("X-Long", "x" * 70_000)]), status=502, code="bad_upstream", calls=1
        ),
        id="endless-header-line",
    ),
    # -- size: oversized (compressed bombs below) -------------------------------------------------------
    pytest.param(
        on_download(
            reply(200, b'{"pad": "' + b"x" * 70_000 + b'"}'), status=502, code="bad_upstream", calls=1
        ),
        id="oversized-content-length",
    ),
    pytest.param(
        on_download(
            (
                Send(
                    http_bytes(
                        200,
                        chunked(b'{"pad": "' + b"x" * 70_000 + b'"}'),
                        [JSON, CHUNKED],
                    )
                ),
            ),
            status=502,
            code="bad_upstream",
            calls=1,
        ),
        id="oversized-chunked",
    ),
    pytest.param(
        on_download(
            (Send(http_bytes(200, GOOD_BODY, [JSON, ("Content-Length", "999999999999")])), Pause(5)),
            status=502,
            code="bad_upstream",
            calls=1,
        ),
        id="absurd-content-length",
    ),
    pytest.param(
        on_download(
            reply(200, b"\x1f\x8b not gzip", [JSON, ("Content-Encoding", "gzip")]),
            status=502,
            code="bad_upstream",
            calls=1,
        ),
        id="corrupt-gzip",
    ),
    # -- deeply nested JSON, wherever the aggregator may send it -----------------------------------
    pytest.param(
        on_download(reply(200, NESTED_LIST), status=502, code="bad_upstream", calls=1),
        id="nested-list-on-200",
    ),
    pytest.param(
        on_download(reply(200, NESTED_OBJECT), status=502, code="bad_upstream", calls=1),
        id="nested-object-on-200",
    ),
    pytest.param(
        on_download(reply(404, b'{"detail": "task not found"}'), status=404, code="task_not_found", calls=1),
        id="plain-404",
    ),
    pytest.param(
        on_download(reply(404, NESTED_LIST), status=404, code="task_not_found", calls=1),
        id="nested-on-404",
    ),
    pytest.param(
        on_download(
            reply(429, NESTED_LIST, [("Retry-After", "120")]), status=429, code="rate_limited", calls=1
        ),
        id="nested-on-429",
    ),
    pytest.param(
        on_download(reply(500, NESTED_OBJECT), budget=5, status=502, code="bad_upstream", calls=3),
        id="nested-on-5xx-storm",
    ),
    pytest.param(
        Case(
            {
                DOWNLOAD_PATH: [reply(400, b'{"detail": {"reason": "not completed"}}')],
                TASK_PATH: [reply(200, NESTED_LIST)],
            },
            status=502,
            code="bad_upstream",
            calls=2,
        ),
        id="nested-task-document",
    ),
    pytest.param(
        on_download(
            reply(200, NESTED_LIST), status=502, code="bad_upstream", calls=1, event="direct_invoke.json"
        ),
        id="nested-direct-invoke",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_hostile_aggregator(rig: Rig, case: Case) -> None:
    server = rig.refusing() if case.refuse else rig.hostile(case.script)
    handle = rig.handler(server.base_url)

    outcome = rig.invoke(handle, budget=case.budget, event=case.event)

    check(outcome, case.status, case.code, server.calls(), case.calls)
    if case.status == 302:
        assert outcome.headers["Location"] == GOOD_URL


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(reply(200, GZIP_BOMB, [JSON, ("Content-Encoding", "gzip")]), id="gzip"),
        pytest.param(reply(200, DEFLATE_BOMB, [JSON, ("Content-Encoding", "deflate")]), id="deflate"),
        pytest.param(
            (Send(http_bytes(200, chunked(GZIP_BOMB), [JSON, ("Content-Encoding", "gzip"), CHUNKED])),),
            id="gzip-chunked",
        ),
    ],
)
def test_a_compressed_bomb_is_not_inflated(rig: Rig, answer: Answer) -> None:
    # Given ~50 KB on the wire that inflate to 48 MiB of zeros
    assert len(GZIP_BOMB) < 64 * 1024
    server = rig.hostile({DOWNLOAD_PATH: [answer]})
    handle = rig.handler(server.base_url)

    tracemalloc.start()
    try:
        outcome = rig.invoke(handle, budget=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    check(outcome, 502, "bad_upstream", server.calls(), 1)
    # Then it is refused once past the 64 KiB body cap, never inflated whole (about 10 MiB peak today)
    assert peak < BOMB_MIB // 2 * 2**20, f"peak {peak / 2**20:.1f} MiB"
