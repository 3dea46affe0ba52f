"""Fault injection: the function against loopback servers that misbehave byte by byte.

Every case wires the function afresh (``handler.build_service`` with its own ``SecretsProvider`` and
link cache, sharing the container's pool), points it at a ``local.hostile`` aggregator and a
``local.faulty_aws`` Secrets Manager (which forwards to moto unless scripted otherwise), invokes it
with a context of ``budget`` seconds and records the answer, the calls each server saw and the time
taken. A watchdog cuts the hostile servers off ``WATCHDOG_SLACK`` seconds after the budget: a function
that would stay busy for half a minute today answers late but soon, and the case fails on its time.

The function is seen only through its public faces: ``build_service(...).handle``,
``secrets_provider()``, ``pool``, the events in ``events/``, the HTTP contract and the exception names.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from local.aggregator import Aggregator
from local.aws import FAKE_CREDENTIALS, REGION, EmbeddedAws, start_embedded_aws
from local.faulty_aws import FaultyAws
from local.hostile import Answer, HostileServer, Responder, Script, reply
from local.lambda_context import LocalLambdaContext
from tests.conftest import EVENT_TASK_ID, load_event
from tests.integration.conftest import presigned_r2_url

TASK = EVENT_TASK_ID
DOWNLOAD_PATH = f"/luma/generations/{TASK}/download_video_url"
TASK_PATH = f"/luma/generations/{TASK}"
SECRET_ID = "luma/faults-token"
TOKEN = "sk-faults-0123456789abcdef"
ROTATED_TOKEN = "sk-faults-rotated-fedcba98"
GOOD_URL = presigned_r2_url(TASK)
WATCHDOG_SLACK = 0.5
# The budget of cases that hang or drip: 0.5 s until the deadline, after the function's 1 s reserve.
SHORT_BUDGET = 1.5
# A byte this often is well inside every per-read timeout: only a bound on the whole exchange stops it.
DRIP_INTERVAL = 0.2
# Short timeouts keep the suite fast; each case's budget is its invocation's whole time.
SETTINGS = {
    "TOKEN_SECRET_ID": SECRET_ID,
    "UPSTREAM_CONNECT_TIMEOUT": "1",
    "UPSTREAM_READ_TIMEOUT": "1",
    "POWERTOOLS_SERVICE_NAME": "luma-download",
    "POWERTOOLS_METRICS_NAMESPACE": "LumaDownload",
}

DEFECTS = {
    1: "a slow-dripping aggregator outlives the invocation",
    2: "the secret read ignores the deadline",
    3: "deeply nested JSON crashes the request",
    4: "every 401/403 forces a paid secret re-read",
    5: "transient Secrets Manager faults are reported as misconfiguration",
    6: "the token can leak through the video URL",
    7: "link lifetimes have no ceiling",
    8: "a 429 with a malformed Retry-After answers 502",
    9: "percent-encoded characters in the redirect host are accepted",
}

# README "HTTP contract": what direct invoke raises for each HTTP answer.
ERROR_CONTRACT = {
    "InvalidTaskIdError": (400, "invalid_task_id"),
    "InvalidRequestError": (400, "invalid_request"),
    "TaskNotFoundError": (404, "task_not_found"),
    "VideoNotReadyError": (409, "video_not_ready"),
    "TaskFailedError": (410, "task_failed"),
    "UpstreamRateLimitedError": (429, "rate_limited"),
    "UpstreamError": (502, "bad_upstream"),
    "UpstreamUnavailableError": (503, "upstream_unavailable"),
    "UpstreamTimeoutError": (504, "upstream_timeout"),
    "ConfigurationError": (500, "misconfigured"),
}
RETRY_AFTER_STATUSES = frozenset({409, 429, 503})
Handle = Callable[[Any, Any], Any]  # a wiring's handle(event, context)


def defect(*numbers: int, unlisted: str | None = None) -> pytest.MarkDecorator:
    """Fails until the lead's fixes land; strict, so the marker must go once it passes. ``unlisted``
    names a defect this suite found that the issue does not list yet."""
    reasons = [f"issue 8 defect {number}: {DEFECTS[number]}" for number in numbers]
    if unlisted:
        reasons.insert(0, f"issue 8, not yet listed: {unlisted}")
    return pytest.mark.xfail(strict=True, reason="; ".join(reasons))


def json_reply(status: int, document: object, headers: Sequence[tuple[str, str]] = ()) -> Answer:
    return reply(status, json.dumps(document).encode(), [("Content-Type", "application/json"), *headers])


def link_reply(url: object) -> Answer:
    return json_reply(200, {"url": url})


@dataclass(frozen=True)
class Outcome:
    """What the caller got: ``status``/``code`` from the HTTP answer, or from the raised class's name."""

    status: int | None
    code: str | None
    elapsed: float
    budget: float
    cut_off: bool  # the watchdog had to cut the servers off
    headers: Mapping[str, str] = field(default_factory=dict)
    document: Any = None  # the JSON body, or what direct invoke returned
    raised: BaseException | None = None
    text: str = ""  # everything the caller could read, for leak checks

    @property
    def in_time(self) -> bool:
        return not self.cut_off and self.elapsed < self.budget

    def summary(self) -> str:
        late = " (cut off by the watchdog)" if self.cut_off else ""
        return f"{self.status} {self.code} after {self.elapsed:.2f}s of {self.budget}s{late}"

    def max_age(self) -> int | None:
        directive = self.headers.get("Cache-Control", "")
        return int(directive.split("max-age=")[1]) if "max-age=" in directive else None


def check(outcome: Outcome, status: int | None, code: str | None, calls: int, expected_calls: int) -> None:
    """The case's expectation, in one comparison so a failure shows every observed value; then the
    parts of the contract every answer of that kind must honour."""
    observed = (outcome.status, outcome.code, calls, outcome.in_time)
    assert observed == (status, code, expected_calls, True), outcome.summary()
    if outcome.raised is None and outcome.status is not None and outcome.status >= 400:
        assert outcome.headers.get("Cache-Control") == "no-store"
        assert set(outcome.document["error"]) == {"code", "message", "request_id"}
        if outcome.status in RETRY_AFTER_STATUSES:
            assert outcome.headers.get("Retry-After", "").isdigit()
            assert int(outcome.headers["Retry-After"]) > 0


@dataclass
class Rig:
    """The servers of one test, the function wired to them, and the invocation with its watchdog."""

    function: ModuleType
    aws: FaultyAws
    moto: EmbeddedAws
    aggregator: Aggregator
    _servers: list[HostileServer] = field(default_factory=list)

    def hostile(self, script: Responder | Mapping[str, Sequence[Answer]]) -> HostileServer:
        server = HostileServer(script if callable(script) else Script(script))
        self._servers.append(server)
        return server.start()

    def refusing(self) -> HostileServer:
        """A reserved loopback port where nothing accepts."""
        server = HostileServer(Script({}))
        self._servers.append(server)
        return server

    def simulator(self, *tokens: str) -> Aggregator:
        """The well-behaved aggregator simulator, emptied, accepting ``tokens`` (for the secret's cases)."""
        self.aggregator.reset()
        self.aggregator.valid_tokens = set(tokens)
        return self.aggregator

    def handler(self, upstream: str, **settings: str) -> Handle:
        """A fresh wiring of the function, as a redeploy with these settings would give."""
        environ = {**SETTINGS, "UPSTREAM_BASE_URL": upstream, **settings}
        service = self.function.build_service(
            environ, pool=self.function.pool, secrets=self.function.secrets_provider()
        )
        return service.handle  # type: ignore[no-any-return]

    def invoke(self, handle: Handle, *, budget: float, event: str = "http_api_get.json") -> Outcome:
        cut = threading.Event()

        def cut_off() -> None:
            cut.set()
            self.aws.abort()
            for server in self._servers:
                server.abort()

        watchdog = threading.Timer(budget + WATCHDOG_SLACK, cut_off)
        watchdog.start()
        context = LocalLambdaContext(timeout_seconds=budget)
        started = time.monotonic()
        try:
            result, raised = handle(load_event(event), context), None
        except Exception as exc:  # what a direct caller gets is the case's outcome
            result, raised = None, exc
        finally:
            elapsed = time.monotonic() - started
            watchdog.cancel()
        status, code, headers, document, text = _read_answer(result, raised)
        return Outcome(
            status,
            code,
            elapsed=elapsed,
            budget=budget,
            cut_off=cut.is_set(),
            headers=headers,
            document=document,
            raised=raised,
            text=text,
        )

    def stop(self) -> None:
        for server in self._servers:
            server.stop()


def _read_answer(
    result: Any, raised: Exception | None
) -> tuple[int | None, str | None, Mapping[str, str], Any, str]:
    """Status, error code, headers, document and all its text, from what the handler returned or raised."""
    if raised is not None:
        name = type(raised).__name__
        status, error_code = ERROR_CONTRACT.get(name, (None, f"raised {name}"))
        return status, error_code, {}, None, f"{name}: {raised} {raised.args!r}"
    if isinstance(result, dict) and "statusCode" in result:
        document = json.loads(result["body"]) if result.get("body") else None
        error = document.get("error") if isinstance(document, dict) else None
        code = str(error["code"]) if isinstance(error, dict) else None
        return result["statusCode"], code, result.get("headers") or {}, document, json.dumps(result)
    return 200, None, {}, result, json.dumps(result)


@pytest.fixture(scope="session")
def moto() -> Iterator[EmbeddedAws]:
    aws = start_embedded_aws()
    yield aws
    aws.stop()


@pytest.fixture(scope="session")
def simulator() -> Iterator[Aggregator]:
    # One for the session: its shutdown polls for half a second.
    aggregator = Aggregator().start()
    yield aggregator
    aggregator.stop()


@pytest.fixture(scope="package")
def function() -> Iterator[ModuleType]:
    """The function's module. It reads ``os.environ`` when imported (as Lambda's init does), and
    other suites import it under their own environment: if this package imported it, forget it after."""
    imported_before = "handler" in sys.modules
    import handler  # noqa: PLC0415

    yield handler
    if not imported_before:
        sys.modules.pop("handler", None)


@pytest.fixture
def rig(
    function: ModuleType, moto: EmbeddedAws, simulator: Aggregator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Rig]:
    """A faulty Secrets Manager (forwarding to moto, which holds TOKEN) reached the standard way."""
    moto.put_token(SECRET_ID, TOKEN)
    aws = FaultyAws(forward_to=moto.endpoint).start()
    for name, value in {
        **FAKE_CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws.endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    rig = Rig(function=function, aws=aws, moto=moto, aggregator=simulator)
    yield rig
    rig.stop()
    aws.stop()
